"""Evaluate: one run's speaker-independent scores, where it errs, and its files to download."""

import streamlit as st

from app import charts, state, widgets
from ser_core.export import export_zip


def evaluate() -> None:
    st.title("Evaluate")
    run = widgets.pick_run("evaluate_run")
    if run is None:
        return
    results = state.load_results(str(run.path))
    summary = state.run_summary(run)
    cols = st.columns(5)
    cols[0].metric("UA", f"{results['ua']:.3f}", help="Unweighted accuracy: the mean recall over emotions.")
    cols[1].metric("WA", f"{results['wa']:.3f}", help="Weighted accuracy: the share of clips right.")
    cols[2].metric("Macro-F1", f"{results['macro_f1']:.3f}")
    cols[3].metric("Parameters", f"{results['params']:,}")
    cols[4].metric("Kernel", summary["kernel"] or "n/a", help="(k_seg, k_frame, k_mel) of the 3D CNN")
    st.caption(f"{summary['model']} · {results['clips']:,} clips of {results['speakers']} speakers · "
               f"{len(results['per_fold'])} folds ({summary['split']}), UA per fold "
               f"{results['fold_ua_mean']:.3f} ± {results['fold_ua_std']:.3f} · {summary['device']}")

    labels = results["labels"]
    left, right = st.columns(2)
    left.plotly_chart(charts.confusion(results["confusion"], labels), key="chart_confusion")
    right.plotly_chart(charts.recall(labels, {run.path.name: results["recall"]}), key="chart_recall")
    chance = 1 / len(labels)
    left, right = st.columns([2, 1])
    left.plotly_chart(charts.group_accuracy(results["per_speaker"], "Accuracy per test speaker", chance),
                      key="chart_speakers")
    right.plotly_chart(charts.group_accuracy(results["per_corpus"], "Accuracy per corpus", chance),
                       key="chart_corpora")

    left, middle, right = st.columns(3)
    left.download_button("results.json", run.results_path.read_bytes(), file_name=f"{run.path.name}-results.json",
                         mime="application/json", icon=":material/download:")
    if run.predictions_path.is_file():
        middle.download_button("predictions.csv", run.predictions_path.read_bytes(),
                               file_name=f"{run.path.name}-predictions.csv", mime="text/csv",
                               icon=":material/download:")
    if run.final_model_path is not None and run.final_model_path.suffix == ".npz":  # the functionals model
        right.download_button("model.npz", run.final_model_path.read_bytes(), file_name=f"{run.path.name}-model.npz",
                              icon=":material/download:",
                              help="coefficients, normalisation statistics and a JSON header (labels, settings); "
                                   "numpy.load(..., allow_pickle=False)")
    elif run.model_path.is_file():  # built only when clicked: torch.export takes a few seconds
        right.download_button("model for use elsewhere (.zip)", lambda: export_zip(run.path),
                              file_name=f"{run.path.name}-export.zip", mime="application/zip",
                              icon=":material/download:",
                              help="model.pt2 (torch.export), model.json (labels, features, normalisation), "
                                   "embeddings.csv, predictions.csv, results.json. See `ser export`.")


evaluate()
