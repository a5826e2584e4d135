"""How a feature space clusters: by emotion, or by speaker, corpus or sex?

The paper judged "distinct emotion clusters" by eye on a t-SNE map; a map can
cluster by who speaks or which corpus a clip came from as easily. Two measures,
for each grouping of the clips (emotion, speaker, corpus, sex), each beside its
chance level:

- neighbour agreement: the share of each clip's k = 10 nearest neighbours
  (itself excluded) with its label. Chance is exact, not approximate: a random
  other clip shares clip i's label with probability (n_c - 1) / (n - 1), which
  averages to sum_c n_c (n_c - 1) / (n (n - 1)).
- silhouette (scikit-learn), on a fixed-seed sample of at most 2,000 clips; its
  chance is the silhouette of the same sample with the labels shuffled.

The embedding space is z-scored per dimension first (as the map's projector does),
so no single wide dimension decides the distances; wider than 128 dimensions (the
functionals' thousands), it is reduced to its first 128 principal components, which
keeps 10,000 clips to seconds. A 2D / 3D map is taken as drawn.
A clip whose label is unknown (sex, for some corpora) is left out of that grouping.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ser_core.files import write_json
from ser_core.training.runs import RunFolder

GROUPINGS = ("emotion", "speaker", "corpus", "gender")  # columns of embeddings.npz; gender is shown as sex
K = 10
SILHOUETTE_SAMPLE = 2000  # silhouette costs N^2 distances: 2,000 clips keep it well under a second
UNKNOWN = ("", "unknown", "nan", "None")
MAX_DIMS = 128  # wider spaces are measured in their first principal components


def neighbour_agreement(neighbours: np.ndarray, labels: np.ndarray) -> float:
    """Mean share of each row's neighbours (N, k indices) that carry that row's label."""
    return float(np.mean(labels[neighbours] == labels[:, None]))


def agreement_chance(labels: np.ndarray) -> float:
    """Expected agreement of a neighbour drawn at random from the other clips: sum n_c (n_c - 1) / (n (n - 1))."""
    n = len(labels)
    counts = np.unique(labels, return_counts=True)[1].astype(float)
    return float(np.sum(counts * (counts - 1)) / (n * (n - 1)))


def nearest_neighbours(x: np.ndarray, k: int = K) -> np.ndarray:
    """(N, k) indices of each point's k nearest others (Euclidean; a point is never its own neighbour)."""
    from sklearn.neighbors import NearestNeighbors

    return NearestNeighbors(n_neighbors=k).fit(x).kneighbors(return_distance=False)


def silhouettes(x: np.ndarray, labels: np.ndarray, seed: int = 0) -> tuple[float, float] | tuple[None, None]:
    """(silhouette, silhouette of shuffled labels) on a sample of at most SILHOUETTE_SAMPLE points."""
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(seed)
    rows = rng.permutation(len(x))[:SILHOUETTE_SAMPLE]
    x, labels = x[rows], labels[rows]
    if not 2 <= len(np.unique(labels)) <= len(x) - 1:
        return None, None
    return (float(silhouette_score(x, labels)), float(silhouette_score(x, rng.permutation(labels))))


def cluster_scores(x: np.ndarray, table: pd.DataFrame, k: int = K, standardize: bool = True) -> dict:
    """Agreement and silhouette by every grouping in `table` (one row per point of `x`), with chance levels.

    x: (N, D) embeddings or (N, 2|3) map coordinates. A grouping is left out when fewer than
    two of its labels are known or too few clips have one (it would measure nothing).
    -> {"k", "clips", "dims", "by": {grouping: {agreement, chance, silhouette, silhouette_chance, classes, clips}}}
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or len(x) != len(table):
        raise ValueError(f"need (N, D) points for the table's {len(table)} rows, got shape {x.shape}")
    dims = int(x.shape[1])
    if standardize:
        x = (x - x.mean(0)) / (x.std(0) + 1e-6)
        if dims > MAX_DIMS and len(x) > MAX_DIMS:
            from sklearn.decomposition import PCA

            x = PCA(n_components=MAX_DIMS, random_state=0).fit_transform(x)
    all_neighbours = nearest_neighbours(x, k) if len(x) > k else None
    by = {}
    for grouping in GROUPINGS:
        if grouping not in table.columns:
            continue
        labels = table[grouping].fillna("").astype(str).to_numpy()
        known = ~np.isin(labels, UNKNOWN)
        if len(np.unique(labels[known])) < 2 or known.sum() <= k:
            continue
        if known.all():
            neighbours = all_neighbours
        else:
            neighbours = nearest_neighbours(x[known], k)
        labels = labels[known]
        silhouette, shuffled = silhouettes(x[known], labels)
        by[grouping] = {
            "agreement": neighbour_agreement(neighbours, labels),
            "chance": agreement_chance(labels),
            "silhouette": silhouette,
            "silhouette_chance": shuffled,
            "classes": int(len(np.unique(labels))),
            "clips": int(known.sum()),
        }
    return {"k": k, "clips": len(x), "dims": dims, "by": by}


def above_chance(score: dict) -> float:
    """How far agreement is from chance towards perfect, (agreement - chance) / (1 - chance): 0 is chance, 1 perfect.

    Comparable across groupings with very different chance levels (14% for emotion, 4% for speaker)."""
    return (score["agreement"] - score["chance"]) / (1 - score["chance"]) if score["chance"] < 1 else 0.0


# ---------------------------------------------------------------- a run's scores


def embedded_clips(path: Path) -> tuple[np.ndarray, pd.DataFrame]:
    """embeddings.npz's (N, D) embeddings and its clips' labels."""
    with np.load(path) as data:
        table = pd.DataFrame({c: data[c].astype(str) for c in GROUPINGS if c in data.files})
        return data["embeddings"].astype(np.float32), table


def embedding_clusters(embeddings_path: str | Path) -> dict:
    """Cluster scores of a run's embeddings.npz, in the embedding space itself (results.json's `clusters`)."""
    embeddings, table = embedded_clips(Path(embeddings_path))
    return {"space": "embedding"} | cluster_scores(embeddings, table)


def run_clusters(run: RunFolder) -> dict | None:
    """The run's embedding-space scores: results.json's `clusters`, else (a run from before they were
    measured) computed from embeddings.npz once and kept in RUN/clusters.json; None without embeddings."""
    stored = (run.results() or {}).get("clusters")
    if stored:
        return stored
    if not run.embeddings_path.is_file():
        return None
    return _cached(run.path / "clusters.json", run.embeddings_path,
                   lambda: embedding_clusters(run.embeddings_path))


def map_clusters(run: RunFolder, coords: np.ndarray, key: str) -> dict:
    """Cluster scores of a map of the run (its coordinates, drawn as they are), kept in RUN/projections/KEY.clusters.json."""
    def compute() -> dict:
        _, table = embedded_clips(run.embeddings_path)
        return {"space": key} | cluster_scores(coords, table, standardize=False)

    return _cached(run.path / "projections" / f"{key}.clusters.json", run.embeddings_path, compute)


def _cached(path: Path, source: Path, compute) -> dict:
    """compute()'s result, kept as JSON at `path` until `source` changes."""
    if path.is_file() and path.stat().st_mtime >= source.stat().st_mtime:
        return json.loads(path.read_text())
    scores = compute()
    write_json(path, scores)
    return scores


# ---------------------------------------------------------------- in words

GROUPING_NAMES = {"emotion": "emotion", "speaker": "speaker", "corpus": "corpus", "gender": "sex"}


def agreement_sentence(scores: dict) -> str:
    """"A clip's 10 nearest neighbours share its emotion 61% of the time (chance 14%), its speaker 22% (chance 4%)"."""
    parts = [f"its {GROUPING_NAMES.get(g, g)} {s['agreement']:.0%}" + (" of the time" if i == 0 else "")
             + f" (chance {s['chance']:.0%})" for i, (g, s) in enumerate(scores["by"].items())]
    if not parts:
        return "Too few labelled clips to measure what neighbours share."
    return f"A clip's {scores['k']} nearest neighbours share " + ", ".join(parts) + "."


def silhouette_sentence(scores: dict, where: str = "") -> str:
    """E.g. "Silhouette in the embedding space by emotion +0.12 (shuffled labels -0.01), ..." (`where` says
    in what), or "" when none was measured."""
    parts = [f"{GROUPING_NAMES.get(g, g)} {s['silhouette']:+.2f} (shuffled labels {s['silhouette_chance']:+.2f})"
             for g, s in scores["by"].items() if s.get("silhouette") is not None]
    if not parts:
        return ""
    return (f"Silhouette{where} by " + ", ".join(parts)
            + "; from -1 to 1, above 0 when a clip is nearer its own group than the next one.")
