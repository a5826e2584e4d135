"""Kernel study: the paper's k_seg x k_mel grid of 3D CNNs, run in the background or loaded, read as a heatmap."""

import time
from pathlib import Path

import streamlit as st

from app import charts, jobs, state, widgets
from ser_core.paths import sweeps_dir
from ser_core.recipes import recipe_names, resolve
from ser_core.training.progress import describe_sweep
from ser_core.training.sweep import list_sweeps, sweep_progress, sweep_table

K_SEG = (1, 2, 3, 4, 5)
K_MEL = (1, 3, 5, 7, 9)


def new_sweep() -> None:
    manifests = state.list_manifests()
    if not manifests:
        st.info("No manifest yet: the demo corpus is generated on first launch (Home), or save one on the Data page.")
        return
    with st.form("new_sweep"):
        c = st.columns(3)
        manifest = c[0].selectbox("Manifest", list(manifests))
        recipe = c[1].selectbox("Recipe", recipe_names(), help="the cnn3d settings each cell starts from")
        device = c[2].radio("Device", ["auto", "cpu", "cuda"], horizontal=True)
        c = st.columns(3)
        k_seg = c[0].multiselect("k_seg (segments axis)", K_SEG, default=[1, 2, 3])
        k_mel = c[1].multiselect("k_mel (mel axis)", K_MEL, default=[1, 3, 5])
        k_frame = c[2].number_input("k_frame (fixed)", 1, 9, 3)
        c = st.columns(3)
        k = c[0].number_input("K (k-fold over speakers)", 2, 20, 3)
        epochs = c[1].number_input("Epochs per cell", 1, 500, 10)
        name = c[2].text_input("Sweep name", placeholder=f"{manifest}-<time>")
        budget = st.number_input("Parameter budget (0: the recipe's fixed channels)", 0, 10_000_000, 0, step=5_000,
                                 help="With fixed channels a bigger kernel is also a bigger model. A budget scales "
                                      "each cell's channels to about that many parameters, so cells differ in "
                                      "kernel shape only.")
        st.caption("Each cell cross-validates one cnn3d: a sweep costs as many trainings as its grid has cells.")
        executor = widgets.executor_args("sweep")
        if not st.form_submit_button("Start the sweep", type="primary", icon=":material/play_arrow:"):
            return
    out = sweeps_dir() / (name.strip() or f"{manifest}-{time.strftime('%m%d-%H%M%S')}")
    try:
        spec = resolve(recipe, {"model.name": "cnn3d", "train.split": f"kfold:{k}", "train.epochs": int(epochs),
                                "train.device": device})
        jobs.start_sweep(manifests[manifest], out, sorted(k_seg), sorted(k_mel), spec, k_frame=int(k_frame),
                         executor=executor, params=int(budget) or None)
    except ValueError as err:
        st.error(str(err))
        return
    st.session_state["sweep_folder"] = str(out)


def sweep_view(folder: str, job: jobs.Job | None, running: bool) -> None:
    """The grid so far, the reading of it and the running cell (refreshed by widgets.follow_job while it runs)."""
    table = sweep_table(folder)
    grid = job.meta if job else {}  # a sweep that was not launched here has no grid to count against
    status = None
    if grid.get("k_seg"):
        status = sweep_progress(folder, grid["k_seg"], grid["k_mel"], len(table), running)
        st.progress(status.fraction, text=status.text)
    if running and st.button("Stop the sweep", key="sweep_stop", icon=":material/stop:"):
        jobs.stop(job)
        st.toast("Stopping after the current step…")
    elif job is not None and not running and status is not None and not status.complete:
        if st.button("Continue the sweep", key="sweep_resume", icon=":material/replay:",
                     help="Finished cells are kept."):
            jobs.relaunch(job)
            st.rerun()
    if table.empty:
        st.info("No cell has finished yet.")
        return
    st.markdown(describe_sweep(table))
    left, right = st.columns(2)
    left.plotly_chart(charts.sweep_heatmap(table, "ua", "UA by kernel (rows k_seg, columns k_mel)"),
                      key="chart_sweep_ua")
    right.plotly_chart(charts.sweep_heatmap(table, "params", "Parameters by kernel"), key="chart_sweep_params")
    number = st.column_config.NumberColumn
    st.dataframe(table.sort_values("ua", ascending=False), hide_index=True, column_config={
        "ua": number("UA", format="%.3f"), "wa": number("WA", format="%.3f"),
        "macro_f1": number("macro-F1", format="%.3f"), "wall_s": number("training (s)", format="%.0f"),
    })


def kernels() -> None:
    st.title("Kernel study")
    st.markdown("The paper's question: which 3D kernel (k_seg, k_frame, k_mel) works best? It found shallow "
                "temporal (small k_seg) and moderately deep spectral (larger k_mel) kernels best. Each cell of "
                "the grid below is a speaker-independent cross-validation of one cnn3d.")
    root = sweeps_dir()
    folders = [str(p) for p in list_sweeps(root)]
    with st.expander("New sweep", expanded=not folders, icon=":material/add:"):
        new_sweep()
    followed = st.session_state.get("sweep_folder")
    if followed and followed not in folders:
        folders.insert(0, followed)
    if not folders:
        st.info(f"No sweep yet: start one above (sweeps are saved under {root}).")
        return
    folder = st.selectbox("Sweep", folders, key="sweep_folder", format_func=lambda p: Path(p).name)
    widgets.follow_job(folder, sweep_view, every=3)


kernels()
