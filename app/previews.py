"""Audio previews for hover-to-play, served by Streamlit's static file serving.

Streamlit serves the folder static/ beside streamlit_app.py at app/static/
(server.enableStaticServing in .streamlit/config.toml): previews go to
static/previews/, named by content (ser_core.previews), so the browser caches
them for good. $SER_STATIC_DIR moves the folder: `ser app` points it at the static/
it serves in $SER_HOME/server (never inside an installed package), tests at a
temporary one (only static/ is served). One batch per run and server process makes the missing
previews in a background thread; every session shares it.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import streamlit as st

from ser_core.previews import PreviewJob, PreviewStore

REPO_ROOT = Path(__file__).resolve().parents[1]
STATIC_DIR_ENV = "SER_STATIC_DIR"


def static_dir() -> Path:
    """The folder Streamlit serves at app/static/ (static/ beside streamlit_app.py)."""
    return Path(os.environ.get(STATIC_DIR_ENV) or REPO_ROOT / "static")


def static_url(relative: str = "") -> str:
    """The address of a file under static_dir(), behind the server's baseUrlPath if it has one."""
    base = st.get_option("server.baseUrlPath").strip("/")
    return f"/{base}/app/static/{relative}" if base else f"/app/static/{relative}"


def preview_url() -> str:
    return static_url("previews/")


@st.cache_resource(show_spinner=False)
def _store(folder: str) -> PreviewStore:
    return PreviewStore(folder)


def preview_store() -> PreviewStore:
    return _store(str(static_dir() / "previews"))


@st.cache_resource(show_spinner=False)
def _batches() -> tuple[threading.Lock, dict[str, PreviewJob]]:
    return threading.Lock(), {}


def preview_batch(key: str, paths: list[str]) -> PreviewJob:
    """The batch making the previews of `paths`: started by the first caller with `key`, then shared."""
    lock, batches = _batches()
    with lock:
        if key not in batches:
            batches[key] = PreviewJob(preview_store(), paths).start()
        return batches[key]


def clip_previews(key: str, paths: list[str]) -> tuple[list[str | None], PreviewJob | None, bool]:
    """Each clip's preview file name (None while it is not made), the batch for the missing ones,
    and whether that batch was still running when the names were read.

    The batch is None when every preview is ready; `key` names the clip list (a run and its embeddings).
    A running batch means the page must rerun when it ends; a finished one (its previews all
    reused in a moment, or made earlier) has its names read again here, so they are final.
    """
    names = preview_store().lookup(paths)
    if None not in names:
        return names, None, False
    batch = preview_batch(f"{static_dir()}|{key}", paths)
    if not batch.finished:
        return names, batch, True
    return preview_store().lookup(paths), batch, False
