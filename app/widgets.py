"""Widgets several pages share: the run picker, the "no run yet" message, the first-launch banner,
and the view that follows a background job live."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import streamlit as st

from app import jobs, state
from ser_core.quickstart import demo_manifest_path, quickstart_run
from ser_core.training.progress import format_eta, progress
from ser_core.training.runs import FUSION_MODEL_FILE, RunFolder


def device_note() -> str:
    """Whether this machine has an NVIDIA GPU, from the driver's files: importing torch for it would
    make the Train page's first draw seconds slower."""
    gpus = sorted(Path("/proc/driver/nvidia/gpus").glob("*/information"))
    if gpus:
        model = next((line.split(":", 1)[1].strip() for line in gpus[0].read_text().splitlines()
                      if line.startswith("Model")), "an NVIDIA GPU")
        return f"GPU: {model} (auto trains there if torch was built with CUDA)"
    return "No NVIDIA GPU seen here: auto trains on the CPU (the demo or laptop recipe)."


EXECUTOR_CHOICES = {"local": "one fold after another, here", "ray-local": "Ray on this machine",
                    "ray-address": "Ray at an address"}


def executor_args(key: str) -> list[str]:
    """Where the folds run, as `ser train` / `ser sweep` flags; offered only when Ray is installed.
    Drawn inside a form, so every field shows at once (a form redraws only when submitted)."""
    from importlib.util import find_spec

    if find_spec("ray") is None:
        return []
    c = st.columns(3)
    choice = c[0].radio("Run the folds", list(EXECUTOR_CHOICES), format_func=EXECUTOR_CHOICES.get, key=f"{key}_executor",
                        help="Ray trains several folds at once, on this machine's CPUs and GPUs or on a cluster "
                             "(ray start --head there); the run folder is the same either way")
    address = c[1].text_input("Ray address", "auto", key=f"{key}_address",
                              help="With Ray at an address: auto (a cluster started on this machine) or HOST:PORT")
    gpus = c[2].number_input("GPUs per fold (Ray)", 0.0, 8.0, 0.0, step=0.25, key=f"{key}_gpus",
                             help="0.25: four folds share a GPU; 0: the folds train on CPUs")
    if choice == "local":
        return []
    args = ["--executor", "ray"] + (["--address", address.strip()] if choice == "ray-address" else [])
    return args + (["--gpus-per-task", f"{gpus:g}"] if gpus else [])


def follow_job(folder: str | Path, view: Callable[[str, jobs.Job | None, bool], None], every: float) -> None:
    """Draw `view(folder, job, running)` for the job launched in `folder`: while it runs, as a fragment
    that redraws itself every `every` seconds; once it ends, the whole page reruns (its tables, pickers)."""
    folder = str(folder)
    job = jobs.find_job(folder)
    if job is not None and job.running():
        st.session_state[f"following_{folder}"] = True
        st.fragment(run_every=every)(_followed)(folder, view)
    else:
        _followed(folder, view)


def _followed(folder: str, view: Callable[[str, jobs.Job | None, bool], None]) -> None:
    job = jobs.find_job(folder)
    running = job is not None and job.running()
    if not running and st.session_state.pop(f"following_{folder}", False):
        st.rerun()  # it just ended: refresh the whole page, not only this view
    view(folder, job, running)


def no_map_reason(run: RunFolder) -> str:
    """Why a run has no embeddings to map."""
    final = run.final_model_path
    if final is not None and final.name == FUSION_MODEL_FILE:
        return "A fusion has no embeddings of its own, so it has no map: explore either of its two runs."
    return ("This run has no embeddings: it was trained without a final model. "
            "Train a run with its final model (the default) to explore it.")


def run_label(run: RunFolder) -> str:
    """"name · UA 0.712" for pickers and tables."""
    results = state.load_results(str(run.path))
    return f"{run.path.name} · UA {results['ua']:.3f}" if results else run.path.name


def pick_run(key: str, label: str = "Run", need_model: bool = False) -> RunFolder | None:
    """A selectbox over finished runs (newest first); None, with the "no run yet" message, when there are none.

    need_model: only runs with a final model (model.pt), e.g. for prediction.
    """
    runs = state.finished_runs(need_model)
    if not runs:
        no_run_message(need_model=need_model, key=f"{key}_quickstart")
        return None
    by_path = {str(run.path): run for run in runs}
    choice = st.selectbox(label, list(by_path), format_func=lambda p: run_label(by_path[p]), key=key)
    return by_path[choice]


def no_run_message(need_model: bool = False, key: str = "no_run_quickstart") -> None:
    """Say there is no trained run and offer the button that makes one (the demo run)."""
    if jobs.quickstart_job() is not None and not state.demo_ready():
        first_launch_banner()  # its progress (this page fills in when it ends), or its error and a retry button
        return
    what = "No trained model yet" if need_model else "No finished run yet"
    st.info(f"{what}. Train the demo model (small enough for a laptop CPU), "
            "or start your own run on the Train page.", icon=":material/model_training:")
    if st.button("Train the demo model", key=key, type="primary", icon=":material/play_arrow:"):
        jobs.start_quickstart()
        st.rerun()


def first_launch_banner() -> None:
    """The first-launch job's state: live progress while it runs, the error if it failed; nothing once done."""
    if state.demo_ready():
        return
    job = jobs.quickstart_job()
    if job is None:
        return
    if job.running():
        follow_job(jobs.quickstart_folder(), _quickstart_progress, every=2)
        return
    st.error("Preparing the demo failed. The last lines of its log:", icon=":material/error:")
    st.code(job.log_tail() or "(empty log)", language=None)
    if st.button("Try again", key="quickstart_retry"):
        jobs.start_quickstart()
        st.rerun()


def _quickstart_progress(folder: str, job: jobs.Job | None, running: bool) -> None:
    """The first launch's progress: generating the demo corpus, then training the demo model."""
    if not demo_manifest_path().is_file():
        st.progress(0.0, text="First launch: generating the demo corpus…")
        return
    now = progress(quickstart_run().events())
    text = f"First launch: training the demo model ({now.text}); the pages fill in when it ends"
    eta = format_eta(now.eta_s)
    st.progress(now.fraction, text=f"{text} ({eta})" if eta else text)
