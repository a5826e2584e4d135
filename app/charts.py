"""Plotly figures the pages draw. Every figure uses template="plotly" (Streamlit's default
template renders black outside st.plotly_chart); builders take tables and arrays, never paths.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ser_core.corpora.vocabulary import EMOTIONS

TEMPLATE = "plotly"
# One colour per emotion everywhere in the app, in vocabulary order.
EMOTION_COLORS = dict(zip(EMOTIONS, px.colors.qualitative.Plotly + px.colors.qualitative.Safe))


def styled(fig: go.Figure, height: int = 320, **layout) -> go.Figure:
    """The app's figure defaults (template, height, margins), then `layout`: every figure but the map's."""
    fig.update_layout(template=TEMPLATE, height=height, margin=dict(l=10, r=10, t=40, b=10), **layout)
    return fig


# ---------------------------------------------------------------- corpora


def corpus_files(corpora: pd.DataFrame) -> go.Figure:
    """Files per corpus (summarize()["corpora"])."""
    fig = px.bar(corpora.reset_index(), x="corpus", y="files", hover_data=["speakers", "hours", "emotions"],
                 template=TEMPLATE, title="Files per corpus")
    return styled(fig)


def emotion_files(emotions: pd.DataFrame) -> go.Figure:
    """Files per emotion, stacked by corpus (summarize()["emotions"])."""
    long = emotions.reset_index().melt(id_vars="emotion", var_name="corpus", value_name="files")
    fig = px.bar(long, x="emotion", y="files", color="corpus", template=TEMPLATE, title="Files per emotion")
    return styled(fig)


def speaker_files(speakers: pd.DataFrame) -> go.Figure:
    """Files per speaker, coloured by sex (summarize()["speakers"])."""
    table = speakers.reset_index().assign(sex=lambda t: t["gender"].replace("", "unknown"))
    fig = px.bar(table, x="speaker", y="files", color="sex", hover_data=["corpus", "emotions"],
                 template=TEMPLATE, title="Files per speaker")
    return styled(fig, xaxis_tickangle=-45)


def sex_files(manifest: pd.DataFrame) -> go.Figure:
    counts = manifest["gender"].replace("", "unknown").value_counts()
    fig = go.Figure(go.Pie(labels=counts.index, values=counts.to_numpy(), hole=0.45))
    return styled(fig, title="Files by sex")


def waveform(wave: np.ndarray, sample_rate: int, points: int = 4000) -> go.Figure:
    """The waveform as its min/max envelope over `points` columns (a clip has ~10^5 samples)."""
    n = len(wave)
    step = max(1, n // points)
    trimmed = wave[: n - n % step].reshape(-1, step)
    t = np.arange(len(trimmed)) * step / sample_rate
    fig = go.Figure([
        go.Scatter(x=t, y=trimmed.max(1), line=dict(width=0.8, color="#4c6ef5"), name="max"),
        go.Scatter(x=t, y=trimmed.min(1), line=dict(width=0.8, color="#4c6ef5"), fill="tonexty", name="min"),
    ])
    return styled(fig, height=200, title="Waveform", showlegend=False, xaxis_title="seconds")


def spectrogram(mel: np.ndarray, hop_seconds: float) -> go.Figure:
    """Log-mel (T, F) in dB as a heatmap: time across, mel bins up."""
    t = np.arange(mel.shape[0]) * hop_seconds
    fig = go.Figure(go.Heatmap(z=mel.T, x=t, colorscale="Viridis", colorbar=dict(title="dB")))
    return styled(fig, height=280, title="Log-mel spectrogram", xaxis_title="seconds", yaxis_title="mel bin")


def volume(vol: np.ndarray) -> go.Figure:
    """A spectro-temporal volume (1, S, L, F) as S small heatmaps, one per segment."""
    _, segments, frames, _ = vol.shape
    fig = make_subplots(rows=1, cols=segments, shared_yaxes=True, horizontal_spacing=0.005,
                        subplot_titles=[f"s{i + 1}" for i in range(segments)])
    low, high = float(vol.min()), float(vol.max())
    for i in range(segments):
        fig.add_trace(go.Heatmap(z=vol[0, i].T, zmin=low, zmax=high, colorscale="Viridis",
                                 showscale=i == segments - 1), row=1, col=i + 1)
    fig.update_xaxes(showticklabels=False)
    return styled(fig, height=260, title=f"Volume: {segments} segments x {frames} frames x mel bins")


# ---------------------------------------------------------------- training


def training_curves(curves: pd.DataFrame, value: str, title: str) -> go.Figure:
    """One line per fold of `value` (train_loss or val_ua) against the epoch."""
    data = curves.dropna(subset=[value])
    fig = px.line(data, x="epoch", y=value, color="fold", markers=True, template=TEMPLATE, title=title)
    return styled(fig, height=300)


# ---------------------------------------------------------------- evaluation


def confusion(matrix: list[list[int]], labels: list[str]) -> go.Figure:
    """Row-normalised confusion matrix: rows true emotion, columns predicted; counts on hover."""
    counts = np.asarray(matrix, dtype=float)
    rates = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    fig = go.Figure(go.Heatmap(
        z=rates, x=labels, y=labels, zmin=0, zmax=1, colorscale="Blues",
        text=np.round(rates, 2), texttemplate="%{text}", customdata=counts.astype(int),
        hovertemplate="true %{y}, predicted %{x}: %{z:.2f} (%{customdata} clips)<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed", title="true")
    fig.update_xaxes(title="predicted")
    return styled(fig, height=420, title="Confusion matrix (each row sums to 1)")


def recall(labels: list[str], recalls: dict[str, list[float]]) -> go.Figure:
    """Per-class recall; several runs (name -> recalls) side by side."""
    if len(recalls) == 1:  # one run: each emotion in its own colour
        (name, values), = recalls.items()
        fig = go.Figure(go.Bar(x=labels, y=values, name=name, marker_color=[EMOTION_COLORS.get(e) for e in labels]))
    else:
        fig = go.Figure([go.Bar(x=labels, y=values, name=name) for name, values in recalls.items()])
    fig.update_yaxes(range=[0, 1], title="recall")
    return styled(fig, title="Recall per emotion", barmode="group", showlegend=len(recalls) > 1)


def group_accuracy(groups: dict[str, dict], title: str, chance: float | None = None) -> go.Figure:
    """UA and WA per group (results.json per_speaker / per_corpus), with a chance line."""
    table = pd.DataFrame(groups).T.rename_axis("group").reset_index()
    long = table.melt(id_vars=["group", "n"], value_vars=["ua", "wa"], var_name="metric", value_name="accuracy")
    fig = px.bar(long, x="group", y="accuracy", color="metric", barmode="group", hover_data=["n"],
                 template=TEMPLATE, title=title)
    if chance is not None:
        fig.add_hline(y=chance, line_dash="dot", annotation_text="chance")
    fig.update_yaxes(range=[0, 1])
    return styled(fig, xaxis_tickangle=-45)


def paired_differences(per_speaker: dict[str, dict], title: str) -> go.Figure:
    """One bar per test speaker: this run's UA minus the other's (ser_core.training.compare)."""
    table = pd.DataFrame(per_speaker).T.rename_axis("speaker").reset_index()
    table["better"] = np.where(table["difference"] >= 0, "this run", "the other")
    fig = px.bar(table, x="speaker", y="difference", color="better", hover_data=["a", "b"], template=TEMPLATE,
                 title=title, color_discrete_map={"this run": "#4c6ef5", "the other": "#e8590c"})
    fig.add_hline(y=0, line_color="#888888")
    return styled(fig, xaxis_tickangle=-45, yaxis_title="UA difference")


# ---------------------------------------------------------------- kernel study


def sweep_heatmap(table: pd.DataFrame, value: str = "ua", title: str = "UA by kernel") -> go.Figure:
    """A k_seg (rows) x k_mel (columns) grid of `value`, with every metric on hover."""
    grid = table.pivot(index="k_seg", columns="k_mel", values=value)
    params = table.pivot(index="k_seg", columns="k_mel", values="params").reindex_like(grid)
    wall = table.pivot(index="k_seg", columns="k_mel", values="wall_s").reindex_like(grid)
    text = grid.map(lambda v: "" if pd.isna(v) else (f"{v:.3f}" if value == "ua" else f"{v:,.0f}"))
    fig = go.Figure(go.Heatmap(
        z=grid.to_numpy(), x=[str(c) for c in grid.columns], y=[str(i) for i in grid.index],
        colorscale="Viridis", text=text.to_numpy(), texttemplate="%{text}",
        customdata=np.dstack([params.to_numpy(), wall.to_numpy()]),
        hovertemplate=("k_seg %{y}, k_mel %{x}<br>" + value + (" %{z:.3f}" if value == "ua" else " %{z:,.0f}") +
                       "<br>%{customdata[0]:,.0f} parameters, %{customdata[1]:.0f} s training<extra></extra>"),
    ))
    fig.update_xaxes(title="k_mel (spectral depth)", type="category")
    fig.update_yaxes(title="k_seg (temporal depth)", type="category", autorange="reversed")
    return styled(fig, height=360, title=title)
