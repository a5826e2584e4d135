"""Train: start a run in the background, follow it live, stop or resume it, compare finished runs."""

import time
from pathlib import Path

import pandas as pd
import streamlit as st

from app import charts, jobs, state, widgets
from ser_core.config import CLASSIFIERS, FEATURE_SETS, HEADS, MODEL_CONFIGS, POOLINGS, FunctionalsConfig
from ser_core.corpora.aggregate import emotions_setting, read_manifest
from ser_core.corpora.vocabulary import CorpusError
from ser_core.recipes import load_recipe, parse_override, recipe_names, resolve
from ser_core.training.progress import curves, format_eta, progress
from ser_core.training.runs import RunFolder
from ser_core.training.splits import split_spec

SPLITS = {"kfold": "k-fold over speakers", "loso": "leave one speaker out", "corpus": "leave one corpus out"}
MERGES = ("calm=neutral", "bored=neutral", "surprised=happy", "disgust=angry")
RESUMABLE = ("stopped", "interrupted", "failed")
_SCORE = "{:.3f}".format
COMPARED = {  # row label: (runs-table column, how to show it)
    "UA": ("ua", _SCORE), "WA": ("wa", _SCORE), "macro-F1": ("macro_f1", _SCORE), "model": ("model", str),
    "recipe": ("recipe", str), "kernel": ("kernel", str), "parameters": ("params", "{:,}".format),
    "clips": ("clips", "{:,}".format), "device": ("device", str), "wall time": ("wall_s", "{:.0f} s".format),
}


@st.cache_data(max_entries=16, show_spinner=False)
def manifest_labels(path: str, mtime: float) -> tuple[list[str], list[str]]:
    """(emotions, corpora) of a manifest file."""
    manifest = read_manifest(path)
    return sorted(manifest["emotion"].unique()), sorted(manifest["corpus"].unique())


def pretrained_runs(model: str) -> list[RunFolder]:
    """Finished runs of `model` with a final network, to start a new run from."""
    return [run for run in state.finished_runs(need_model=True)
            if run.model_path.is_file() and run.config().get("model", {}).get("name") == model]


def new_run() -> None:
    """Recipe, model and the settings that matter; Start writes the resolved spec and launches `ser train --config`."""
    manifests = state.list_manifests()
    if not manifests:
        st.info("No manifest to train on yet: the demo corpus is generated on first launch (Home), "
                "or save one on the Data page.")
        return
    name = st.selectbox("Manifest", list(manifests), key="train_manifest")
    path = manifests[name]
    try:
        emotions, corpora = manifest_labels(str(path), path.stat().st_mtime)
    except CorpusError as err:
        st.error(str(err))
        return
    c = st.columns(2)  # outside the form: the recipe and the model set the form's defaults
    recipe_name = c[0].selectbox("Recipe", recipe_names(), key="train_recipe",
                                 help="Named, measured settings: demo (the first launch), laptop (the best on a "
                                      "CPU), paper (the paper's scale, a GPU). `ser recipes` lists them.")
    recipe = load_recipe(recipe_name)
    models = sorted(MODEL_CONFIGS)
    model = c[1].selectbox("Model", models, index=models.index(recipe.default_model), key="train_model")
    st.caption(f"**{recipe.name}**: {recipe.summary}. Cost: {recipe.cost}. Measured: {recipe.measured}.")
    base = resolve(recipe, {"model.name": model})
    resolved = st.expander("The recipe's resolved settings", key="train_resolved", on_change="rerun")
    if resolved.open:  # drawn only when opened: a large JSON tree costs every visit of the page otherwise
        resolved.json(base.to_dict(), expanded=2)
    with st.form(f"new_run_{recipe_name}_{model}"):  # one form per recipe and model, so its defaults follow them
        device = st.radio("Device", ["auto", "cpu", "cuda"], horizontal=True, help=widgets.device_note())
        st.caption(widgets.device_note())
        c = st.columns(4)
        if isinstance(base.model, FunctionalsConfig):  # the hand-crafted reference: no network to shape
            model_settings = {
                "model.feature_set": c[0].selectbox("Functionals", FEATURE_SETS,
                                                    index=FEATURE_SETS.index(base.model.feature_set),
                                                    help="openSMILE's eGeMAPS (88) or ComParE 2016 (6,373)"),
                "model.classifier": c[1].selectbox("Classifier", CLASSIFIERS,
                                                   index=CLASSIFIERS.index(base.model.classifier)),
            }
            c[2].caption("Its regularisation is chosen on each fold's validation speakers; "
                         "the network settings below do not apply.")
        else:
            kernel_labels = ("k_seg", "k_frame", "k_mel")[-len(base.model.kernel):]
            model_settings = {"model.kernel": [int(col.number_input(label, 1, 9, value, key=f"kernel_{label}"))
                                               for col, label, value in zip(c, kernel_labels, base.model.kernel)]}
            model_settings["model.channels"] = c[3].text_input(
                "Channels per block", ", ".join(map(str, base.model.channels)),
                help="One conv block per entry; more or wider blocks, a bigger model")
            if hasattr(base.model, "pooling"):
                model_settings["model.pooling"] = st.radio(
                    "Pooling", POOLINGS, index=POOLINGS.index(base.model.pooling), horizontal=True,
                    help="How the last block's map becomes the embedding: mean (its average), stats (each "
                         "channel's mean and standard deviation over time) or attention (the same, each time "
                         "step weighted by a learnt attention)")
            if hasattr(base.model, "deltas"):
                model_settings["model.deltas"] = st.checkbox(
                    "Deltas", base.model.deltas,
                    help="Three input channels: the log-mels, their deltas and delta-deltas over time")
            model_settings["train.head"] = st.radio(
                "Classifier", HEADS, index=HEADS.index(base.train.head), horizontal=True,
                format_func={"network": "the network's own", "linear": "linear, per speaker"}.get,
                help="What turns the embedding into probabilities: the network's own classifier, or a logistic "
                     "regression over the embeddings standardised per speaker, as the functionals are, fitted "
                     "after the network trains, its regularisation chosen on the validation speakers")
            sources = [""] + [str(run.path) for run in pretrained_runs(model)]
            model_settings["train.init"] = st.selectbox(
                "Start from", sources, format_func=lambda p: Path(p).name if p else "fresh weights",
                help=f"A finished {model} run whose final model starts every fold's network (pretraining, "
                     "e.g. on a large synthetic corpus made by `ser corpus demo`), its classifier "
                     "too when it tells the same emotions apart. Its speakers may only train here, where the split "
                     "never tests them: the other corpora of loso:NAME or corpus:NAME, or the speakers outside "
                     "speakers:A,B.")
        features = base.features
        c = st.columns(3)
        segments = c[0].number_input("Segments S", 1, 300, features.segments,
                                     help="A volume is S segments of L frames; its window should cover most clips")
        segment_frames = c[1].number_input("Frames per segment L", 1, 300, features.segment_frames)
        window = features.replace(segments=int(segments), segment_frames=int(segment_frames)).window_seconds
        c[2].caption(f"A window of {window:.2f} s (frames are {1000 * features.hop_length / features.sample_rate:g} "
                     f"ms apart); the recipe's volume is {features.segments} x {features.segment_frames}.")
        c = st.columns(4 if len(corpora) > 1 else 3)
        split_kind = c[0].selectbox("Split", list(SPLITS), format_func=lambda k: f"{k}: {SPLITS[k]}")
        k = c[1].number_input("K (k-fold)", 2, 20, 5)
        test_corpus = None
        if len(corpora) > 1:
            test_corpus = c[2].selectbox(
                "Test corpus", [None, *corpora], format_func=lambda name: name or "every corpus",
                help="loso and corpus splits: test only this corpus's speakers, while the other corpora always "
                     "train (e.g. SAVEE's four speakers in turn, with RAVDESS's 24 always training)",
            )
        train = base.train
        epochs = c[-1].number_input("Epochs", 1, 500, train.epochs, help="Per fold")
        chosen = st.multiselect("Emotions", emotions, default=emotions)
        merges = st.multiselect("Merge labels", [m for m in MERGES if m.split("=")[0] in emotions])
        c = st.columns(4)
        batch_size = c[0].number_input("Batch size", 2, 1024, train.batch_size)
        lr = c[1].number_input("Learning rate", 1e-5, 1.0, train.lr, format="%.4f")
        val_fraction = c[2].number_input(
            "Validation speakers", 0.0, 0.5, train.val_fraction, step=0.05,
            help="Share of each fold's training speakers held out to validate (early stopping with \"the best "
                 "validation epoch\", a fusion's weight, the functionals' regularisation); 0 = train on every one")
        final = c[3].checkbox("Final model on all speakers", train.final_model, help="Needed for Explore and Live")
        c = st.columns(4)
        mixup = c[0].number_input("Mixup alpha", 0.0, 2.0, train.mixup, step=0.1,
                                  help="Train on blends of two clips and their labels; 0 = off")
        freq_warp = c[1].number_input("Mel warp", 0.0, 0.4, train.freq_warp, step=0.05,
                                      help="Stretch each clip's mel axis by up to this fraction, as a longer or "
                                           "shorter vocal tract would (VTLP); 0 = off")
        time_stretch = c[2].number_input("Tempo", 0.0, 0.4, train.time_stretch, step=0.05,
                                         help="Play each training window up to this fraction faster or slower; 0 = off")
        ema = c[3].number_input("Weight average", 0.0, 0.999, train.ema, step=0.01, format="%.3f",
                                help="Evaluate and keep a moving average of the weights with this decay "
                                     "(0.99: about the last 100 steps); 0 = off")
        speeds = st.multiselect(
            "Speed copies", sorted({0.8, 0.9, 1.1, 1.2, *train.speeds}), default=list(train.speeds),
            help="Copies of every clip played this much faster or slower, pitch and tempo together, featurised "
                 "once and cached; each training crop of a network reads its clip as recorded or at one of "
                 "these speeds, and clips are tested as recorded. The functionals read the clips as recorded. "
                 "None = off",
        )
        c = st.columns(4)
        select = c[0].selectbox("Keep the weights of", ["best", "last"], index=["best", "last"].index(train.select),
                                format_func={"best": "the best validation epoch", "last": "the last epoch"}.get,
                                help="best: early stopping on the validation speakers; last: every epoch runs")
        seeds = c[1].number_input("Seeds", 1, 10, train.seeds,
                                  help="Repeat the cross-validation with this many seeds on the same folds: "
                                       "results give each seed's UA, their mean and spread (costs N times)")
        adversary = c[2].number_input("Speaker adversary", 0.0, 10.0, train.adversary, step=0.1,
                                      help="Weight of a speaker classifier's reversed gradient on the embedding, so "
                                           "the network learns what does not tell the training speakers apart; 0 = off")
        run_name = c[3].text_input("Run name", placeholder=f"{model}-{name}-<time>")
        executor = widgets.executor_args("train")
        more = st.text_area("Other settings", placeholder="train.label_smoothing=0.05\nmodel.dropout=0.2",
                            help="Any setting as KEY=VALUE, one a line (model.*, features.*, features.audio.*, "
                                 "train.*), as `ser train --set` takes them; the recipe's resolved settings above list "
                                 "every key")
        if not st.form_submit_button("Start training", type="primary", icon=":material/play_arrow:"):
            return
    overrides = {
        "model.name": model, **model_settings, "features.segments": int(segments),
        "features.segment_frames": int(segment_frames), "train.split": split_spec(split_kind, int(k), test_corpus),
        "train.val_fraction": float(val_fraction),
        "train.emotions": emotions_setting(emotions, chosen, merges), "train.merge": list(merges),
        "train.epochs": int(epochs), "train.batch_size": int(batch_size), "train.lr": float(lr),
        "train.mixup": float(mixup), "train.freq_warp": float(freq_warp), "train.time_stretch": float(time_stretch),
        "train.speeds": sorted(speeds),
        "train.ema": float(ema), "train.adversary": float(adversary), "train.select": select,
        "train.seeds": int(seeds), "train.device": device,
        "train.final_model": final,
    }
    try:
        overrides |= dict(parse_override(line) for line in more.splitlines() if line.strip())
        spec = resolve(recipe, overrides)
        if spec.train.init:  # its speakers, model and features checked before launching (torch loads here only)
            from ser_core.training.warm_start import check_init

            check_init(spec, read_manifest(path))
        out = state.runs_root() / (run_name.strip() or f"{model}-{name}-{time.strftime('%m%d-%H%M%S')}")
        jobs.start_train(path, out, spec, executor)
    except (ValueError, OSError) as err:
        st.error(str(err))
        return
    st.session_state["train_dashboard"] = str(out)


def dashboard_view(run_path: str, job: jobs.Job | None, running: bool) -> None:
    """Progress, curves and Stop / Resume of one run (refreshed by widgets.follow_job while it trains)."""
    run = RunFolder(run_path)
    final_model = run.config().get("train", {}).get("final_model", True) if run.exists() else True
    now = progress(run.events(), final_model)
    status = "running" if running else (jobs.run_state(run) if run.status_path.is_file() else "not started")
    eta = format_eta(now.eta_s) if running else ""
    text = now.text if now.phase == status else f"{status}: {now.text}"
    st.progress(now.fraction, text=f"**{run.path.name}**: {text}" + (f", {eta}" if eta else ""))
    table = curves(run.events())
    if not table.empty:
        left, right = st.columns(2)
        left.plotly_chart(charts.training_curves(table, "train_loss", "Training loss"), key="chart_loss")
        if table["val_ua"].notna().any():
            right.plotly_chart(charts.training_curves(table, "val_ua", "Validation UA"), key="chart_val")
        else:
            right.caption("No validation UA: no validation speakers (a share of 0, or too few speakers per fold).")
    if running:
        if st.button("Stop", key="train_stop", icon=":material/stop:",
                     help="Finished folds are kept; Resume continues from them."):
            jobs.stop(job)
            st.toast("Stopping after the current step…")
    elif status in RESUMABLE and run.exists():
        if st.button("Resume", key="train_resume", icon=":material/replay:"):
            try:
                jobs.resume_train(run)
            except (ValueError, OSError) as err:
                st.error(str(err))
            else:
                st.rerun()
    if job is not None and not running and job.started > (run.status() or {}).get("time", 0):
        st.error("The last launch ended before training started. The end of its log:", icon=":material/error:")
        st.code(job.log_tail(10) or "(empty)", language=None)
    elif job is not None and status in ("failed", "interrupted"):
        with st.expander("Log"):
            st.code(job.log_tail(40) or "(empty)", language=None)


def dashboard() -> None:
    active = [str(job.folder) for job in jobs.active_jobs(state.runs_root())]
    options = list(dict.fromkeys(active + [str(r.path) for r in state.list_run_folders()]))
    followed = st.session_state.get("train_dashboard")
    if followed and followed not in options:
        options.insert(0, followed)
    if not options:
        st.info("No run yet: start one above.")
        return
    if st.session_state.get("train_dashboard") not in options:
        st.session_state["train_dashboard"] = options[0]
    run_path = st.selectbox("Run", options, key="train_dashboard", format_func=lambda p: Path(p).name)
    widgets.follow_job(run_path, dashboard_view, every=1.5)


def runs_table() -> None:
    rows = [state.run_summary(run) for run in state.list_run_folders()]
    if not rows:
        widgets.no_run_message(key="train_quickstart")
        return
    table = pd.DataFrame(rows)
    number = st.column_config.NumberColumn
    st.dataframe(table, hide_index=True, column_config={
        "ua": number("UA", format="%.3f"), "wa": number("WA", format="%.3f"),
        "macro_f1": number("macro-F1", format="%.3f"), "params": number("parameters", format="%d"),
        "wall_s": number("wall time (s)", format="%.0f"),
    })


def compare() -> None:
    runs = state.finished_runs()
    if len(runs) < 2:
        st.caption("Two finished runs are needed to compare.")
        return
    if st.session_state.get("compare_b") not in {str(r.path) for r in runs}:
        st.session_state["compare_b"] = str(runs[1].path)
    left, right = st.columns(2)
    with left:
        a = widgets.pick_run("compare_a", "Run A")
    with right:
        b = widgets.pick_run("compare_b", "Run B")
    rows = {run.path.name + (" (A)" if i == 0 else " (B)"): state.run_summary(run) for i, run in enumerate((a, b))}
    shown = {name: {label: show(row[key]) for label, (key, show) in COMPARED.items()} for name, row in rows.items()}
    st.dataframe(pd.DataFrame(shown))
    results = {name: state.load_results(str(run.path)) for name, run in zip(rows, (a, b))}
    labels = sorted({label for r in results.values() for label in r["labels"]})
    recalls = {name: [dict(zip(r["labels"], r["recall"])).get(label) for label in labels]
               for name, r in results.items()}
    st.plotly_chart(charts.recall(labels, recalls), key="chart_compare_recall")


def train_page() -> None:
    st.title("Train")
    # Lazy expanders: a closed one runs and draws nothing, so a visit pays only for what is open.
    new = st.expander("New run", expanded=not state.list_run_folders(), icon=":material/add:", key="train_new_run",
                      on_change="rerun")
    if new.open:
        with new:
            new_run()
    st.subheader("Dashboard")
    dashboard()
    st.subheader("Runs")
    runs_table()
    compared = st.expander("Compare two runs", icon=":material/compare_arrows:", key="train_compare",
                           on_change="rerun")
    if compared.open:
        with compared:
            compare()


train_page()
