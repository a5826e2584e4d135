"""Cluster scores beside the Explore page's map: how often neighbours share the emotion, speaker, corpus, sex."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app.state import mtime
from ser_core.clusters import agreement_sentence, map_clusters, run_clusters, silhouette_sentence
from ser_core.embedding import Projector
from ser_core.training.runs import RunFolder


@st.cache_data(max_entries=16, show_spinner="Measuring how the clips cluster…")
def _embedding_scores(run_path: str, embeddings_mtime: float, results_mtime: float) -> dict | None:
    return run_clusters(RunFolder(run_path))


@st.cache_data(max_entries=16, show_spinner="Measuring how the map clusters…")
def _map_scores(run_path: str, key: str, embeddings_mtime: float, _coords: np.ndarray) -> dict:
    return map_clusters(RunFolder(run_path), _coords, key)  # key and mtime name the projection: coords unhashed


def cluster_notes(run: RunFolder, coords: np.ndarray, method: str, dims: int, method_name: str) -> tuple[str, str]:
    """(how neighbours agree in the embedding space and on the map as drawn, the silhouettes in words).

    The embedding space's scores are results.json's, or measured once for a run from before they were."""
    embedding = _embedding_scores(str(run.path), mtime(run.embeddings_path), mtime(run.results_path))
    on_map = _map_scores(str(run.path), Projector(method=method, n_components=dims).key(),
                         mtime(run.embeddings_path), coords)
    lines = [f"**On this {method_name} map:** {agreement_sentence(on_map)}"]
    if embedding:
        lines.insert(0, f"**In the embedding space** ({embedding['dims']} dimensions): {agreement_sentence(embedding)}")
        return "  \n".join(lines), silhouette_sentence(embedding, " in the embedding space")
    return lines[0], ""
