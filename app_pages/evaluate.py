"""Evaluate: one run's speaker-independent scores, where it errs, and its files to download."""

import pandas as pd
import streamlit as st

from app import charts, state, widgets
from ser_core.training.compare import ALPHA, compare_runs
from ser_core.training.runs import FUSION_MODEL_FILE, RunFolder


def _export_zip(run_path) -> bytes:
    from ser_core.export import export_zip  # torch: imported when the download is asked for, not to draw the page

    return export_zip(run_path)


@st.cache_data(max_entries=16, show_spinner=False)
def comparison(a: str, b: str, stamps: tuple[float, float]) -> dict:
    return compare_runs(RunFolder(a), RunFolder(b))


def paired_comparison(run: RunFolder) -> None:
    """This run against another on the same folds: the difference per fold and speaker, with paired tests."""
    others = [r for r in state.finished_runs() if r.path != run.path]
    if not others:
        st.caption("Another finished run on the same folds is needed for a paired comparison.")
        return
    by_path = {str(r.path): r for r in others}
    other = by_path[st.selectbox("Against", list(by_path), format_func=lambda p: widgets.run_label(by_path[p]),
                                 key="evaluate_against")]
    try:
        result = comparison(str(run.path), str(other.path),
                            (state.mtime(run.predictions_path), state.mtime(other.predictions_path)))
    except ValueError as err:
        st.info(f"These two runs cannot be compared pair by pair: {err}.")
        return
    st.markdown(f"**{result['summary']}.**")
    mcnemar = result["mcnemar"]
    st.caption(f"Paired sign-flip test over speakers (each speaker's UA difference), p = {result['p_speakers']:.3g}; "
               f"McNemar's test over {result['clips']:,} clips: {mcnemar['only_a_right']} right only in this run, "
               f"{mcnemar['only_b_right']} only in the other, p = {mcnemar['p']:.3g}. A difference counts as "
               f"evidence when p < {ALPHA} over speakers.")
    left, right = st.columns(2)
    left.dataframe(pd.DataFrame(result["per_fold"]).T.rename(columns={"a": "this run", "b": "other"}),
                   column_config={c: st.column_config.NumberColumn(format="%.3f") for c in ("this run", "other",
                                                                                            "difference")})
    right.plotly_chart(charts.paired_differences(result["per_speaker"], "UA difference per test speaker"),
                       key="chart_paired")


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
    if "seeds" in results:
        seeds = results["seeds"]
        st.caption(f"Over {seeds['n']} seeds on the same folds: UA {seeds['ua_mean']:.3f} ± {seeds['ua_std']:.3f} "
                   f"({', '.join(f'{ua:.3f}' for ua in seeds['ua'])}). The figures above score each clip's "
                   "probabilities averaged over the seeds.")

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
    final = run.final_model_path
    if final is not None and final.name != FUSION_MODEL_FILE:  # built only when clicked: torch.export takes seconds
        right.download_button("model for use elsewhere (.zip)", lambda: _export_zip(run.path),
                              file_name=f"{run.path.name}-export.zip", mime="application/zip",
                              icon=":material/download:",
                              help="model.pt2 (torch.export; model.npz for the functionals model), model.json "
                                   "(labels, features, normalisation), embeddings.csv, predictions.csv, "
                                   "results.json. See `ser export`.")

    st.subheader("Paired comparison")
    paired_comparison(run)


evaluate()
