"""The hover-to-play map: a Streamlit v2 component that draws a Plotly figure built here.

Hovering a point plays its audio preview in the browser with no round trip to Python
(scatter.js); clicking a point and lasso or box selections come back as the
component's state: `result.point` (a row) and `result.selection` (rows).
Each point's customdata is [row, preview file name or ""]; the JS joins the name to
the previews' URL. plotly.min.js comes from the plotly wheel, copied once into the
static folder the app serves, and the browser loads it once.

    fig = map_figure(coords, groups, labels, previews, palette, legend_title="emotion")
    result = hover_map(fig, key="explore_map", preview_url=preview_url())
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Sequence

import numpy as np
import plotly
import plotly.graph_objects as go
import streamlit as st

from app.charts import TEMPLATE
from app.previews import static_dir, static_url
from ser_core.files import write_atomic

_HERE = Path(__file__).parent
HIGHLIGHT_ROW = -1  # customdata row of a point that is not one of the run's clips

_component = st.components.v2.component(
    "ser_hover_map",
    html=(_HERE / "scatter.html").read_text(),
    css=(_HERE / "scatter.css").read_text(),
    js=(_HERE / "scatter.js").read_text(),
    isolate_styles=False,  # Plotly puts its CSS in the document head, outside any shadow root
)


def plotly_url() -> str:
    """The URL of plotly.min.js, copied from the plotly wheel into the static folder on first use."""
    name = f"vendor/plotly-{plotly.__version__}.min.js"
    target = static_dir() / name
    if not target.is_file():
        write_atomic(target, (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_bytes())
    return static_url(name)


def marker_size(n_points: int, dims: int) -> int:
    """Big dots for a few hundred clips, small ones for ten thousand."""
    size = 9 if n_points < 1000 else 6 if n_points < 5000 else 4
    return max(2, size - 4) if dims == 3 else size


def map_figure(coords: np.ndarray, groups: Sequence[str], labels: Sequence[str], previews: Sequence[str | None],
               palette: dict[str, str], legend_title: str, highlight: dict | None = None) -> go.Figure:
    """One trace per group, in palette order: (N, 2) coordinates give scattergl, (N, 3) scatter3d.

    groups, labels, previews: one per point (its colour key, hover text, preview file name or None).
    highlight: {"x", "y"[, "z"], "label"}, an extra star that is not a clip of the run.
    """
    coords = np.asarray(coords, dtype=np.float32)
    sizes = (len(coords), len(groups), len(labels), len(previews))
    if coords.ndim != 2 or coords.shape[1] not in (2, 3) or len(set(sizes)) != 1:
        raise ValueError(f"need (N, 2 or 3) coordinates and N groups, labels and previews; got {coords.shape}, "
                         f"{len(groups)}, {len(labels)}, {len(previews)}")
    groups = np.asarray(groups, dtype=str)
    unknown = set(groups) - set(palette)
    if unknown:
        raise ValueError(f"groups without a colour in the palette: {sorted(unknown)}")
    dims = coords.shape[1]
    labels = np.asarray(labels, dtype=object)
    previews = np.array([p or "" for p in previews], dtype=object)
    size = marker_size(len(coords), dims)
    fig = go.Figure()
    for name in [g for g in palette if (groups == g).any()]:
        rows = np.flatnonzero(groups == name)
        fig.add_trace(_trace(dims, coords[rows], name=name, text=labels[rows],
                             customdata=np.stack([rows, previews[rows]], axis=1),
                             marker=dict(color=palette[name], size=size, opacity=0.85)))
    if highlight is not None:
        point = np.array([[highlight["x"], highlight["y"], highlight.get("z", 0.0)][:dims]], dtype=np.float32)
        fig.add_trace(_trace(dims, point, name=highlight["label"], text=[highlight["label"]],
                             customdata=[[HIGHLIGHT_ROW, ""]],
                             marker=dict(color="black", size=size + 12, symbol="star" if dims == 2 else "diamond",
                                         line=dict(color="white", width=1.5))))
    axis = dict(showticklabels=False, showgrid=False, zeroline=False, title=dict(text=""))
    fig.update_layout(
        template=TEMPLATE, margin=dict(l=0, r=0, t=32, b=0), hovermode="closest",  # the mode bar sits in t
        legend=dict(title=dict(text=legend_title), itemsizing="constant"),
        dragmode="lasso" if dims == 2 else "orbit", uirevision="map",  # recolouring keeps the zoom
        hoverlabel=dict(namelength=-1),
    )
    if dims == 2:
        fig.update_xaxes(**axis)
        fig.update_yaxes(**axis)
    else:
        axis |= dict(showbackground=False, showspikes=False)
        fig.update_scenes(xaxis=axis, yaxis=axis, zaxis=axis)
    return fig


def _trace(dims: int, xyz: np.ndarray, **kwargs) -> go.Scattergl | go.Scatter3d:
    common = dict(mode="markers", hovertemplate="%{text}<extra></extra>", **kwargs)
    if dims == 2:
        return go.Scattergl(x=xyz[:, 0], y=xyz[:, 1], **common)
    return go.Scatter3d(x=xyz[:, 0], y=xyz[:, 1], z=xyz[:, 2], **common)


def hover_map(figure: go.Figure, *, key: str, preview_url: str, note: str = "", height: int = 560):
    """Mount the map: -> the component's result, with `.point` (row or None) and `.selection` (rows).

    note: said when a hovered point's preview is not ready yet (e.g. "previews are being made").
    """
    spec = figure.to_json()
    data = {
        "figure": json.loads(spec),
        # the JS redraws only when this changes, not on every rerun of the page
        "version": hashlib.sha1(f"{spec}{height}".encode()).hexdigest()[:16],
        "plotly_url": plotly_url(),
        "preview_base": preview_url,
        "note": note,
        "height": height,
    }
    return _component(key=key, data=data, default={"point": None, "selection": []},
                      on_point_change=lambda: None, on_selection_change=lambda: None)
