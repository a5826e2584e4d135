"""What the Explore and Live pages need from the library: the map's clips and colours,
projections computed in the background, predictions of recorded clips and their figures.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from threadpoolctl import ThreadpoolController

from app.charts import EMOTION_COLORS, styled
from app.previews import clip_previews, preview_url
from app.scatter import hover_map, map_figure
from app.state import load_predictor, mtime
from ser_core.corpora.vocabulary import EMOTIONS
from ser_core.embedding import METHODS, Projector, load_embeddings, projection, projection_path
from ser_core.placement import Placement
from ser_core.predict import Prediction, Predictor
from ser_core.previews import PreviewJob
from ser_core.paths import voices_dir
from ser_core.training.runs import RunFolder
from ser_core.voices import Voice, load_voice, voice_stamp, voice_stats

METHOD_NAMES = {"tsne": "t-SNE", "umap": "UMAP"}
# The BLAS and OpenMP pools numpy and torch loaded. One clip is a few ms of small matmuls and convolutions:
# on two cores, handing them to a second thread costs more than it saves, many times more on a busy machine
# (BENCHMARKS.md, "Live: from a recording to its probabilities").
THREAD_POOLS = ThreadpoolController()
COLOR_BY = {  # table column -> what the colour means
    "emotion": "Emotion",
    "predicted_emotion": "Predicted emotion",
    "correct": "Correct / wrong",
    "speaker": "Speaker",
    "corpus": "Corpus",
    "gender": "Sex",
}
CORRECT_COLORS = {"correct": "#2f9e44", "wrong": "#e03131", "no prediction": "#adb5bd"}
OTHER_COLORS = px.colors.qualitative.Plotly + px.colors.qualitative.Dark24 + px.colors.qualitative.Light24
UNKNOWN = "unknown"


# ---------------------------------------------------------------- the map's clips


@st.cache_data(max_entries=8, show_spinner=False)
def _map_table(run_path: str, embeddings_mtime: float, predictions_mtime: float) -> tuple[np.ndarray, pd.DataFrame]:
    return load_embeddings(RunFolder(run_path))


def map_table(run: RunFolder) -> tuple[np.ndarray, pd.DataFrame]:
    """The run's (N, D) embeddings and its clips joined with their out-of-fold predictions."""
    return _map_table(str(run.path), mtime(run.embeddings_path), mtime(run.predictions_path))


def color_options(table: pd.DataFrame) -> list[str]:
    """The COLOR_BY keys this table can colour by."""
    return [key for key in COLOR_BY if key in table.columns]


def point_groups(table: pd.DataFrame, color_by: str) -> tuple[np.ndarray, dict[str, str]]:
    """Each clip's colour key (N,) and the palette, ordered as the legend lists it."""
    if color_by == "correct":
        known = table["predicted_emotion"].notna()
        groups = np.where(~known, "no prediction", np.where(table["correct"].fillna(False), "correct", "wrong"))
        return groups, CORRECT_COLORS
    groups = table[color_by].fillna(UNKNOWN).astype(str).replace("", UNKNOWN).to_numpy()
    present = set(groups)
    if color_by in ("emotion", "predicted_emotion"):
        order = [e for e in EMOTIONS if e in present] + sorted(present - set(EMOTIONS))
        palette = {g: EMOTION_COLORS.get(g, "#adb5bd") for g in order}
    else:
        palette = {g: OTHER_COLORS[i % len(OTHER_COLORS)] for i, g in enumerate(sorted(present))}
    return groups, palette


def point_labels(table: pd.DataFrame) -> list[str]:
    """Short hover text: "angry ✓ · demo-f01 · f01_s01_angry.wav", or "angry → sad ✗ · …" when wrong."""
    labels = []
    for emotion, predicted, speaker, path in zip(table["emotion"].fillna(UNKNOWN), table["predicted_emotion"],
                                                 table["speaker"].fillna(UNKNOWN), table["path"]):
        if pd.isna(predicted):
            verdict = emotion
        else:
            verdict = f"{emotion} ✓" if predicted == emotion else f"{emotion} → {predicted} ✗"
        labels.append(f"{verdict} · {speaker} · {Path(path).name}")
    return labels


def show_map(run: RunFolder, table: pd.DataFrame, coords: np.ndarray, color_by: str, key: str,
             highlight: dict | None = None, height: int = 560):
    """The run's clips on its hover-to-play map, and the progress of their audio previews while they are made.

    -> the map's result: `.point` (the clicked row or None) and `.selection` (rows).
    """
    names, batch, making = clip_previews(f"{run.path}|{mtime(run.embeddings_path)}", table["path"].tolist())
    groups, palette = point_groups(table, color_by)
    figure = map_figure(coords, groups, point_labels(table), names, palette, COLOR_BY[color_by], highlight)
    result = hover_map(figure, key=key, preview_url=preview_url(), height=height,
                       note="audio previews are being made" if making else "")
    if batch is not None:
        previews_status(batch, making)
    return result


def previews_status(batch: PreviewJob, making: bool) -> None:
    """Progress of the batch making a map's audio previews (rerunning the page when it ends),
    or what it could not make."""
    if making:
        _preview_progress(batch)
    elif batch.error:
        st.error(f"Audio previews could not be made: {batch.error}", icon=":material/error:")
    elif batch.report.skipped:
        path, reason = next(iter(batch.report.skipped.items()))
        st.caption(f"{len(batch.report.skipped)} clip(s) have no audio preview, e.g. {Path(path).name}: {reason}.")


@st.fragment(run_every=2)
def _preview_progress(batch: PreviewJob) -> None:
    if batch.finished:
        st.rerun()  # the map picks up the new previews' names
    st.progress(batch.fraction, text=f"Making audio previews for hover-to-play: {batch.done:,} of {batch.total:,} "
                                     "clips (the map plays them once this is done)")


# ---------------------------------------------------------------- projections in the background


@dataclass
class ProjectionTask:
    """One projection computing (or queued) in the app's projection thread."""

    method: str
    n_points: int
    future: Future | None = None
    started: float | None = None  # when it left the queue

    @property
    def elapsed_s(self) -> float:
        return time.time() - self.started if self.started else 0.0

    @property
    def expected_s(self) -> float:
        """A rough duration on two shared CPU cores, for the progress bar: fitted to bench/app.py's timings
        (BENCHMARKS.md), UMAP's first call in a process compiling its code as well."""
        if self.method == "tsne":
            return 1 + self.n_points * 0.005
        return 20 + self.n_points * 0.0015 + (55 if self.n_points >= 4096 else 0)  # pynndescent compiles too

    @property
    def error(self) -> str | None:
        if self.future is None or not self.future.done() or self.future.exception() is None:
            return None
        exc = self.future.exception()
        return f"{type(exc).__name__}: {exc}"


@st.cache_resource(show_spinner=False)
def _projection_tasks() -> tuple[threading.Lock, ThreadPoolExecutor, dict[str, ProjectionTask]]:
    # one worker: projections queue up instead of fighting over the CPU with each other
    return threading.Lock(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="projection"), {}


def _ready(run: RunFolder, projector: Projector) -> np.ndarray | None:
    cache = projection_path(run, projector)
    if cache.is_file() and cache.stat().st_mtime >= mtime(run.embeddings_path):
        return np.load(cache)
    return None


def map_coords(run: RunFolder, method: str, dims: int, n_points: int) -> np.ndarray | ProjectionTask:
    """The run's cached (N, dims) map, or the background task computing it (started here if needed)."""
    projector = Projector(method=method, n_components=dims)
    coords = _ready(run, projector)
    if coords is not None:
        return coords
    lock, executor, tasks = _projection_tasks()
    key = f"{run.path}|{projector.key()}|{mtime(run.embeddings_path)}"
    with lock:
        task = tasks.get(key)
        if task is None or task.error:  # a failed task is retried on the next visit
            task = tasks[key] = ProjectionTask(method, n_points)

            def compute() -> np.ndarray:
                task.started = time.time()
                return projection(run, projector)

            task.future = executor.submit(compute)
    return task


def any_ready_map(run: RunFolder) -> tuple[str, np.ndarray] | None:
    """A 2D map of the run that is already computed (t-SNE first), with its method."""
    for method in METHODS:
        coords = _ready(run, Projector(method=method, n_components=2))
        if coords is not None:
            return method, coords
    return None


def wait_message(task: ProjectionTask) -> tuple[float, str]:
    """Progress bar fraction and text for a projection still computing."""
    name = METHOD_NAMES[task.method]
    if task.started is None:
        return 0.0, f"{name} map of {task.n_points:,} clips: waiting for another map to finish…"
    fraction = min(task.elapsed_s / task.expected_s, 0.95)
    compile_note = "; the first UMAP since the app started compiles its code" if task.method == "umap" else ""
    return fraction, (f"Computing the {name} map of {task.n_points:,} clips in the background: "
                      f"{task.elapsed_s:.0f} s (up to about {task.expected_s:.0f} s{compile_note})")


@st.fragment(run_every=1)
def wait_for_map(task: ProjectionTask) -> None:
    """Progress of a projection computing in the background; the page reruns when it is ready."""
    if task.error:
        st.error(f"The map could not be computed: {task.error}", icon=":material/error:")
        return
    if task.future.done():
        st.rerun()
    fraction, text = wait_message(task)
    st.progress(fraction, text=text)


# ---------------------------------------------------------------- live prediction


def predict_clip(predictor: Predictor, data: bytes, name: str, speaker_stats=None) -> Prediction:
    """One recorded or uploaded clip, normalised by `speaker_stats` (a voice's) when given; AudioError
    (with .reason) when it cannot be used."""
    with THREAD_POOLS.limit(limits=1):
        return predictor.predict_file(bytes(data), name=name, speaker_stats=speaker_stats)


@st.cache_resource(max_entries=8, show_spinner="Measuring your voice…")
def _voice_stats(model_path: str, model_stamp: float, voices_root: str, name: str, voice_stamp: float):
    with THREAD_POOLS.limit(limits=1):
        return voice_stats(load_predictor(model_path), load_voice(name, Path(voices_root)))


def voice_stats_for(run: RunFolder, voice: Voice):
    """The run's statistics of a saved voice, computed once per run and version of the voice (shared:
    never mutate them); ValueError when the run cannot use a voice."""
    model_path = run.final_model_path or run.path
    return _voice_stats(str(run.path), mtime(model_path), str(voices_dir()), voice.name, voice_stamp(voice.name))


def predict_as_one_speaker(predictor: Predictor, clips: list[tuple[str, bytes]]) -> list[Prediction]:
    """Clips of one person, normalised by their joint statistics (the speaker mode the run trained with)."""
    with THREAD_POOLS.limit(limits=1):
        return predictor.predict_files([bytes(data) for _, data in clips], same_speaker=True,
                                       names=[name for name, _ in clips])


@dataclass
class MapPlacement:
    """Where a clip lands on a run's 2D map and the run's clips nearest to it."""

    method: str
    coords: np.ndarray  # (N, 2) the run's map
    xy: np.ndarray  # (2,) the clip
    neighbors: list[int] = field(default_factory=list)  # rows, nearest first


@st.cache_resource(max_entries=4, show_spinner=False)
def _placement(run_path: str, method: str, embeddings_mtime: float) -> Placement:
    run = RunFolder(run_path)
    embeddings, _ = map_table(run)
    return Placement().fit(embeddings, _ready(run, Projector(method=method, n_components=2)))


def place_clip(run: RunFolder, embedding: np.ndarray) -> MapPlacement | None:
    """The clip on the run's computed 2D map (None while the run has none)."""
    ready = any_ready_map(run)
    if ready is None:
        return None
    method, coords = ready
    placement = _placement(str(run.path), method, mtime(run.embeddings_path))
    rows, _ = placement.neighbors(embedding)
    return MapPlacement(method, coords, placement.place(embedding), rows[0].tolist())


def probability_figure(probabilities: dict[str, float], title: str) -> go.Figure:
    """One horizontal bar per emotion, the most likely on top."""
    probs = sorted(probabilities.items(), key=lambda kv: kv[1])
    fig = go.Figure(go.Bar(
        x=[p for _, p in probs], y=[e for e, _ in probs], orientation="h",
        marker_color=[EMOTION_COLORS.get(e, "#adb5bd") for e, _ in probs],
        text=[f"{p:.0%}" for _, p in probs], textposition="auto",
    ))
    fig.update_xaxes(range=[0, 1], tickformat=".0%", title="probability")
    return styled(fig, height=max(300, 80 + 30 * len(probs)), title=title)


def clip_probabilities(clip: pd.Series) -> dict[str, float]:
    """The out-of-fold probabilities of a map_table row (its p_<emotion> columns)."""
    return {k[2:]: float(v) for k, v in clip.items() if k.startswith("p_") and pd.notna(v)}


def timeline_figure(prediction: Prediction) -> go.Figure:
    """Emotion probabilities of each sliding window, stacked, against the window's centre time."""
    centres = [(w["start_s"] + w["end_s"]) / 2 for w in prediction.timeline]
    fig = go.Figure([
        go.Scatter(x=centres, y=[w["probabilities"][e] for w in prediction.timeline], name=e, mode="lines",
                   stackgroup="one", line=dict(width=0.5, color=EMOTION_COLORS.get(e)))
        for e in prediction.probabilities
    ])
    fig.update_yaxes(range=[0, 1], tickformat=".0%", title="probability")
    fig.update_xaxes(title="seconds (window centre)")
    return styled(fig, height=300, title="Over time (half-overlapping windows)")
