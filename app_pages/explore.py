"""Explore: a run's learned feature space as a t-SNE or UMAP map; hover a point to hear the clip."""

from pathlib import Path

import pandas as pd
import streamlit as st

from app import charts, clusters, explore, state, widgets
from ser_core.audio import AudioError
from ser_core.training.runs import RunFolder

SELECTION_COLUMNS = ["path", "speaker", "corpus", "emotion", "predicted_emotion", "correct"]


def explore_page() -> None:
    st.title("Explore")
    st.caption("Every point is a clip, placed by the embedding the model computes just before its classifier; "
               "clips the model hears alike sit together. Colours of predictions come from the cross-validation "
               "models that never heard that speaker.")
    run = widgets.pick_run("explore_run", need_model=True)
    if run is None:
        return
    if not run.embeddings_path.is_file():
        st.info(widgets.no_map_reason(run), icon=":material/info:")
        return
    _, table = explore.map_table(run)
    if "predicted_emotion" not in table.columns:
        st.info("This run has no predictions.csv, so its clips have no emotions to colour the map by.",
                icon=":material/info:")
        return
    left, middle, right = st.columns([1, 1, 2])
    method = left.radio("Map", list(explore.METHOD_NAMES), format_func=explore.METHOD_NAMES.get, horizontal=True,
                        key="explore_method")
    dims = middle.radio("View", [2, 3], format_func=lambda d: f"{d}D", horizontal=True, key="explore_dims")
    color_by = right.selectbox("Colour by", explore.color_options(table), format_func=explore.COLOR_BY.get,
                               key="explore_color")

    coords = explore.map_coords(run, method, dims, len(table))
    if isinstance(coords, explore.ProjectionTask):
        explore.wait_for_map(coords)
        return
    result = explore.show_map(run, table, coords, color_by, key=f"explore_map_{run.path.name}")
    agreement, silhouette = clusters.cluster_notes(run, coords, method, dims, explore.METHOD_NAMES[method])
    st.markdown(agreement)
    if silhouette:
        st.caption(silhouette)
    _point_details(run, table, result.point)
    _selection(table, result.selection)


def _point_details(run: RunFolder, table: pd.DataFrame, row: int | None) -> None:
    if row is None or not 0 <= row < len(table):
        st.caption("Click a point for its details; draw a lasso around points to list them.")
        return
    clip = table.iloc[row]
    st.subheader(Path(clip["path"]).name)
    cols = st.columns(4)
    cols[0].metric("True emotion", clip.get("emotion", "?"))
    predicted = clip.get("predicted_emotion")
    verdict = "n/a" if not isinstance(predicted, str) else f"{predicted} {'✓' if clip['correct'] else '✗'}"
    cols[1].metric("Predicted", verdict, help="By the cross-validation model that never heard this speaker.")
    cols[2].metric("Speaker", clip.get("speaker", "?"))
    cols[3].metric("Corpus", clip.get("corpus", "?"))
    left, right = st.columns(2)
    probabilities = explore.clip_probabilities(clip)
    if probabilities:
        left.plotly_chart(explore.probability_figure(probabilities, "Out-of-fold probabilities"),
                          key="explore_probabilities")
    try:
        predictor = state.load_predictor(str(run.path))
        mel = predictor.log_mel(clip["path"])
    except AudioError as exc:
        right.warning(f"Cannot read this clip: {exc.reason}", icon=":material/warning:")
        return
    right.plotly_chart(charts.spectrogram(mel, predictor.features.hop_length / predictor.features.sample_rate),
                       key="explore_spectrogram")
    st.audio(clip["path"])


def _selection(table: pd.DataFrame, rows: list[int]) -> None:
    rows = [r for r in rows or [] if 0 <= r < len(table)]
    if not rows:
        return
    chosen = table.iloc[rows]
    st.subheader(f"{len(rows)} selected clip(s)")
    counts = chosen["emotion"].value_counts()
    st.caption("True emotions: " + ", ".join(f"{e} {n}" for e, n in counts.items()))
    st.dataframe(chosen[[c for c in SELECTION_COLUMNS if c in chosen.columns]], hide_index=True,
                 key="explore_selection")


explore_page()
