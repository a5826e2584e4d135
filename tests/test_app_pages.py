"""The app's pages headless (AppTest), with no run yet and with a trained run; the training launcher for real."""

import io
import json
import shutil
import time
import zipfile
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app import jobs
from ser_core.config import RunSpec
from ser_core.recipes import resolve
from ser_core.training.runs import RunFolder

ROOT = Path(__file__).resolve().parents[1]
PAGES_HERE = ("home", "data", "train", "evaluate", "kernels")  # Explore and Live: tests/test_app_explore.py
TIMEOUT = 60  # the first page of a process imports torch and plotly; the machine is shared


@pytest.fixture
def home(tmp_path, monkeypatch, ser_home) -> Path:
    """An empty $SER_HOME of this test's own (sharing the session's feature cache); no first-launch autostart."""
    monkeypatch.setenv("SER_HOME", str(tmp_path))
    monkeypatch.setenv(jobs.AUTOSTART_OFF, "1")
    (ser_home / "cache").mkdir(exist_ok=True)
    (tmp_path / "cache").symlink_to(ser_home / "cache")  # the trained_run fixture's features are cached there
    return tmp_path


@pytest.fixture
def with_run(home, trained_run) -> RunFolder:
    """The trained_run fixture copied into this home's runs folder."""
    return RunFolder(shutil.copytree(trained_run, home / "runs" / trained_run.name))


@pytest.fixture
def launched(monkeypatch) -> list[list[str]]:
    """The arguments of every job launched while the test runs; none is started."""
    calls = []
    monkeypatch.setattr(jobs, "launch", lambda args, folder, meta=None: calls.append(args))
    return calls


@pytest.fixture
def saved_manifest(home, small_demo) -> Path:
    """The small demo corpus's manifest saved as this home's manifests/mine.csv."""
    (home / "manifests").mkdir()
    return Path(shutil.copy(small_demo / "manifest.csv", home / "manifests" / "mine.csv"))


def page(name: str) -> AppTest:
    return AppTest.from_file(str(ROOT / "app_pages" / f"{name}.py"), default_timeout=TIMEOUT).run()


def chart_ids(at: AppTest) -> list[str]:
    return [chart.proto.id.rsplit("-", 1)[-1] for chart in at.get("plotly_chart")]


def test_entry_routes_to_home(home):
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert at.title[0].value == "SER Explorer"
    assert "No finished run yet" in at.info[0].value
    assert jobs.quickstart_job() is None  # SER_NO_AUTOSTART: nothing launched


@pytest.mark.parametrize("name", [p for p in PAGES_HERE if p != "home"])  # home's page links need the entry
def test_pages_without_runs(home, name):
    at = page(name)
    assert not at.exception
    if name in ("train", "evaluate"):
        assert any("No finished run yet" in info.value for info in at.info)
        assert "Train the demo model" in [button.label for button in at.button]
    else:
        assert at.info, "the page says what to do first"


def test_no_run_button_starts_the_quickstart(home, launched):
    at = page("evaluate")
    at.button[0].click().run()
    assert launched == [["quickstart", "--quiet"]]


def test_first_launch_progress_shows_while_it_runs_and_the_page_reruns_when_it_ends(home, monkeypatch):
    folder = jobs.quickstart_folder()
    folder.mkdir(parents=True)
    (folder / "job.json").write_text(json.dumps({"command": [], "pid": -1, "started": 0}))
    (folder / "job.log").write_text("Traceback: it broke\n")
    monkeypatch.setattr(jobs.Job, "running", lambda job: True)
    at = page("evaluate")
    assert not at.exception
    assert at.get("progress")[0].proto.text == "First launch: generating the demo corpus…"
    monkeypatch.setattr(jobs.Job, "running", lambda job: False)
    at.run()
    assert not at.exception and not at.get("progress")
    assert "Preparing the demo failed" in at.error[0].value


def test_evaluate_shows_the_runs_results(with_run):
    results = with_run.results()
    at = page("evaluate")
    assert not at.exception
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["UA"] == f"{results['ua']:.3f}"
    assert metrics["WA"] == f"{results['wa']:.3f}"
    assert metrics["Macro-F1"] == f"{results['macro_f1']:.3f}"
    assert metrics["Parameters"] == f"{results['params']:,}"
    assert {"chart_confusion", "chart_recall", "chart_speakers", "chart_corpora"} <= set(chart_ids(at))
    labels = [button.proto.label for button in at.get("download_button")]
    assert labels == ["results.json", "predictions.csv", "model for use elsewhere (.zip)"]


def test_evaluate_compares_two_runs_pair_by_pair_or_says_why_not(with_run, home):
    import pandas as pd

    other = Path(shutil.copytree(with_run.path, home / "runs" / "worse"))
    predictions = pd.read_csv(other / "predictions.csv")
    predictions["predicted"] = (predictions["label"] + 1) % 3  # every clip wrong
    predictions.to_csv(other / "predictions.csv", index=False)
    at = page("evaluate")
    at.selectbox(key="evaluate_run").select(str(with_run.path)).run()
    assert not at.exception
    sentence = next(md.value for md in at.markdown if "UA on all clips, paired over 6 speakers" in md.value)
    ua = with_run.results()["ua"]
    assert f"{with_run.path.name} − worse: +{ua:.3f} UA on all clips, paired over 6 speakers" in sentence
    assert "evidence that" in sentence and "chart_paired" in chart_ids(at)
    predictions["fold"] = "fold1"  # the same clips in other folds: not a pair
    predictions.to_csv(other / "predictions.csv", index=False)
    at.run()
    assert any("cannot be compared pair by pair: the runs used different folds" in info.value for info in at.info)


def test_train_lists_the_run_and_draws_its_curves(with_run):
    at = page("train")
    assert not at.exception
    table = at.dataframe[0].value
    row = table.loc[table["run"] == with_run.path.name].iloc[0]
    assert row["status"] == "finished"
    assert row["ua"] == pytest.approx(with_run.results()["ua"])
    assert {"chart_loss", "chart_val"} <= set(chart_ids(at))


def test_compare_two_runs(with_run, home):
    other = Path(shutil.copytree(with_run.path, home / "runs" / "copy"))
    results = json.loads((other / "results.json").read_text()) | {"ua": 0.123}
    (other / "results.json").write_text(json.dumps(results))
    at = page("train")
    assert not at.exception and len(at.dataframe) == 1 and "chart_compare_recall" not in chart_ids(at)  # closed
    at.session_state["train_compare"] = True  # the reader opens "Compare two runs"
    at.run()
    compared = at.dataframe[1].value
    assert sorted(compared.loc["UA"]) == sorted(["0.123", f"{with_run.results()['ua']:.3f}"])
    assert "chart_compare_recall" in chart_ids(at)


def test_home_with_a_run_names_it(with_run):
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert with_run.path.name in at.caption[0].value


def make_sweep(sweep: Path, run: RunFolder, cells) -> None:
    """Finished cells (k_seg, k_mel, ua) of a sweep folder, each a copy of `run`."""
    for k_seg, k_mel, ua in cells:
        cell = Path(shutil.copytree(run.path, sweep / f"kseg{k_seg}_kmel{k_mel}"))
        config = json.loads((cell / "config.json").read_text())
        config["model"]["kernel"] = [k_seg, 3, k_mel]
        (cell / "config.json").write_text(json.dumps(config))
        (cell / "results.json").write_text(json.dumps(run.results() | {"ua": ua}))


def test_kernel_study_reads_a_sweep(with_run, home):
    make_sweep(home / "sweeps" / "grid", with_run, ((1, 3, 0.6), (1, 5, 0.7), (2, 3, 0.5), (2, 5, 0.55)))
    at = page("kernels")
    assert not at.exception
    assert any("k_seg=1, k_mel=5 with UA 0.700" in md.value for md in at.markdown)
    assert {"chart_sweep_ua", "chart_sweep_params"} <= set(chart_ids(at))


def test_kernel_study_follows_a_running_sweep_and_offers_to_continue_it(with_run, home, monkeypatch):
    sweep = home / "sweeps" / "grid"
    make_sweep(sweep, with_run, ((1, 3, 0.6),))
    shutil.copytree(with_run.path, sweep / "kseg1_kmel5", ignore=shutil.ignore_patterns("results.json"))
    (sweep / "job.json").write_text(json.dumps({"command": [], "pid": -1, "started": 0,
                                                "meta": {"k_seg": [1, 2], "k_mel": [3, 5], "k_frame": 3}}))
    monkeypatch.setattr(jobs.Job, "running", lambda job: True)
    at = page("kernels")
    assert not at.exception
    assert at.get("progress")[0].proto.text.startswith("1 of 4 cells finished; kseg1_kmel5: ")
    assert [b.label for b in at.button if b.key == "sweep_stop"] == ["Stop the sweep"]
    monkeypatch.setattr(jobs.Job, "running", lambda job: False)  # it ends: the page reruns, without the cell
    at.run()
    assert not at.exception
    assert at.get("progress")[0].proto.text == "1 of 4 cells finished"
    assert [b.label for b in at.button if b.key == "sweep_resume"] == ["Continue the sweep"]


def test_data_page_summarises_a_corpus_and_draws_a_clip(home, small_demo):
    at = AppTest.from_file(str(ROOT / "app_pages" / "data.py"), default_timeout=TIMEOUT)
    at.session_state["data_sources"] = [("demo", str(small_demo))]
    at.run()
    assert not at.exception
    files = next(metric.value for metric in at.metric if metric.label == "Files")
    assert files == str(len((small_demo / "manifest.csv").read_text().splitlines()) - 1)
    assert {"chart_corpora", "chart_emotions", "chart_speakers", "chart_sex", "chart_wave", "chart_mel",
            "chart_volume"} <= set(chart_ids(at))
    assert len(at.get("audio")) == 1


def test_data_page_saves_a_manifest(home, small_demo):
    at = AppTest.from_file(str(ROOT / "app_pages" / "data.py"), default_timeout=TIMEOUT)
    at.session_state["data_sources"] = [("demo", str(small_demo))]
    at.run()
    name_box = next(box for box in at.text_input if box.label == "Manifest name")
    name_box.input("mine")
    next(b for b in at.button if b.label.startswith("Save the")).click().run()
    assert not at.exception
    assert (home / "manifests" / "mine.csv").is_file()


def test_data_page_extracts_an_uploaded_zip_or_names_the_problem(home, small_demo):
    clips = sorted(small_demo.glob("*/*.wav"))[:6]
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        for clip in clips:
            archive.write(clip, f"{clip.parent.name}/{clip.name}")
    at = AppTest.from_file(str(ROOT / "app_pages" / "data.py"), default_timeout=TIMEOUT).run()
    at.selectbox(key="zip_kind").select("demo")
    at.file_uploader[0].upload("not a zip.zip", b"plain text", "application/zip")
    next(b for b in at.button if b.label == "Extract and add").click().run()
    assert "not_a_zip.zip: not a readable zip file" in at.error[0].value
    at.file_uploader[0].upload("my demo.zip", data.getvalue(), "application/zip")
    next(b for b in at.button if b.label == "Extract and add").click().run()
    assert not at.exception
    assert at.session_state["data_sources"] == [("demo", str(home / "uploads" / "my_demo"))]
    assert next(metric.value for metric in at.metric if metric.label == "Files") == str(len(clips))
    assert sorted(p.name for p in (home / "uploads").iterdir()) == ["my_demo"]  # the zips themselves are gone


def test_launch_finish_and_stop_for_real(home, small_demo, monkeypatch):
    """One tiny run trains to the end through the launcher; another is stopped and can be resumed."""
    manifest = small_demo / "manifest.csv"
    tiny = {"train.split": "kfold:2", "train.epochs": 1, "train.batch_size": 16, "train.final_model": False,
            "train.device": "cpu", "model.channels": [3, 6], "model.kernel": [1, 3, 3]}  # not the recipe's model
    finished = jobs.start_train(manifest, home / "runs" / "finishes", resolve("demo", tiny))
    stopped = jobs.start_train(manifest, home / "runs" / "stops", resolve("demo", tiny | {"train.epochs": 200}))
    stop_run = RunFolder(stopped.folder)
    deadline = time.monotonic() + 90
    while not any(e["event"] == "epoch" for e in stop_run.events()):  # the stop handler is installed by then
        assert stopped.running() and time.monotonic() < deadline, stopped.log_tail()
        time.sleep(0.2)
    jobs.stop(stopped)
    assert jobs.wait(stopped, 60) and jobs.wait(finished, 90), finished.log_tail()
    assert jobs.run_state(stop_run) == "stopped"
    assert jobs.run_state(RunFolder(finished.folder)) == "finished", finished.log_tail()

    at = page("train")
    assert not at.exception
    table = at.dataframe[0].value.set_index("run")
    assert table.loc["finishes", "status"] == "finished"
    assert table.loc["stops", "status"] == "stopped"
    assert table.loc["stops", "kernel"] == "1,3,3"  # read from the run's config.json
    # the stopped run resumes from its own config.json, and finishes
    resumed = jobs.resume_train(stop_run)
    assert resumed.args[resumed.args.index("--config") + 1] == str(stop_run.config_path)
    deadline = time.monotonic() + 90
    while sum(e["event"] == "epoch" for e in stop_run.events()) < 2:  # past the settings check: training again
        assert resumed.running() and time.monotonic() < deadline, resumed.log_tail()
        time.sleep(0.2)
    jobs.stop(resumed)
    assert jobs.wait(resumed, 60), resumed.log_tail()
    assert "settings differ" not in resumed.log_tail() and jobs.run_state(stop_run) == "stopped"


def test_first_launch_starts_one_job_only(home, monkeypatch):
    """Several sessions rerunning at once start the quickstart once; a finished attempt is not retried."""
    import threading

    from app import state

    monkeypatch.delenv(jobs.AUTOSTART_OFF)
    real_launch = jobs.launch
    launched = []

    def launch(args, folder, meta=None):  # `ser --help`: a real process that ends at once
        launched.append(args)
        return real_launch(["--help"], folder, meta)

    monkeypatch.setattr(jobs, "launch", launch)
    threads = [threading.Thread(target=state.ensure_first_launch) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert launched == [["quickstart", "--quiet"]]
    assert jobs.wait(jobs.quickstart_job(), 30)
    state.ensure_first_launch()
    assert len(launched) == 1
    jobs.start_quickstart()  # the button retries
    assert len(launched) == 2


def launched_spec(args: list[str]) -> RunSpec:
    """The settings a launched `ser train --config FILE` trains with."""
    return RunSpec.from_dict(json.loads(Path(args[args.index("--config") + 1]).read_text()))


def test_new_run_form_follows_the_recipe_and_launches_its_settings(saved_manifest, launched):
    at = page("train")
    for recipe in ("paper", "laptop", "demo"):
        at.selectbox(key="train_recipe").select(recipe).run()
        numbers = {box.label: box.value for box in at.number_input}
        assert numbers["Epochs"] == resolve(recipe).train.epochs
        assert numbers["Learning rate"] == pytest.approx(resolve(recipe).train.lr)
        assert numbers["Segments S"] == resolve(recipe).features.segments
    at.selectbox(key="train_model").select("cnn2d").run()
    assert [box.label for box in at.number_input][:2] == ["k_frame", "k_mel"]  # a 2D kernel
    settings = (("Mixup alpha", 0.3), ("Mel warp", 0.1), ("Tempo", 0.05), ("Weight average", 0.99),
                ("Speaker adversary", 0.5), ("Validation speakers", 0.0),
                ("Segments S", 40), ("Frames per segment L", 4))
    for label, value in settings:
        next(box for box in at.number_input if box.label == label).set_value(value)
    next(box for box in at.selectbox if box.label == "Keep the weights of").select("last")
    next(box for box in at.multiselect if box.label == "Speed copies").select(1.1).select(0.9)
    next(box for box in at.text_input if box.label == "Channels per block").input("6, 12, 24")
    next(box for box in at.text_area if box.label == "Other settings").input("train.label_smoothing=0.05\n"
                                                                             "model.dropout=0.2")
    next(b for b in at.button if b.label == "Start training").click().run()
    assert not at.exception
    (args,) = launched
    assert args[0] == "train" and "--config" in args
    spec = launched_spec(args)
    expected = resolve("demo", {
        "model.name": "cnn2d", "model.channels": [6, 12, 24], "model.dropout": 0.2, "train.mixup": 0.3,
        "train.freq_warp": 0.1, "train.time_stretch": 0.05, "train.ema": 0.99, "train.adversary": 0.5,
        "train.select": "last", "train.val_fraction": 0.0, "train.speeds": [0.9, 1.1],
        "train.label_smoothing": 0.05, "features.segments": 40,
        "features.segment_frames": 4})
    assert spec.model == expected.model and spec.features == expected.features
    assert spec.train == expected.train.replace(split=spec.train.split)  # the form's split: kfold:5
    assert any("A window of 1.60 s" in caption.value for caption in at.caption)  # 40 x 4 frames, 10 ms apart


def test_new_run_form_launches_cnn3d_with_deltas_and_attention_pooling(saved_manifest, launched):
    at = page("train")
    at.selectbox(key="train_model").select("cnn3d").run()
    box = next(b for b in at.checkbox if b.label == "Deltas")
    assert box.value is resolve("demo").model.deltas
    box.check()  # inside the form: sent with its button
    next(r for r in at.radio if r.label == "Pooling").set_value("attention")
    next(b for b in at.button if b.label == "Start training").click().run()
    assert not at.exception
    (args,) = launched
    assert launched_spec(args).model == resolve("demo", {"model.deltas": True, "model.pooling": "attention"}).model


def test_new_run_form_launches_a_network_with_the_linear_head(saved_manifest, launched):
    at = page("train")
    at.selectbox(key="train_model").select("cnn3d").run()
    head = next(r for r in at.radio if r.label == "Classifier")
    assert head.value == resolve("demo").train.head
    head.set_value("linear")
    next(b for b in at.button if b.label == "Start training").click().run()
    assert not at.exception
    (args,) = launched
    assert launched_spec(args).train.head == "linear"


def test_new_run_starts_from_a_finished_run_only_on_new_speakers(saved_manifest, with_run, launched, tmp_path):
    from ser_core.corpora.aggregate import read_manifest
    from ser_core.corpora.demo import generate_demo_corpus

    generate_demo_corpus(tmp_path / "new", n_speakers=8, n_sentences=1, emotions=("neutral", "sad", "angry"))
    new = read_manifest(tmp_path / "new" / "manifest.csv")
    new[new["speaker"].str[-2:].astype(int) >= 4].to_csv(saved_manifest.with_name("new.csv"), index=False)
    at = page("train")
    at.session_state["train_new_run"] = True  # with a run in the folder, "New run" starts closed
    at.run()
    for manifest, refused in (("mine", True), ("new", False)):  # mine: the run's own speakers
        at.selectbox(key="train_manifest").select(manifest).run()
        start = next(b for b in at.selectbox if b.label == "Start from")
        assert start.options == ["fresh weights", with_run.path.name]
        start.select(str(with_run.path))
        next(b for b in at.button if b.label == "Start training").click().run()
        assert not at.exception
        assert any("trained on 6 speakers this run tests" in e.value for e in at.error) is refused
        assert len(launched) == (0 if refused else 1)
    (args,) = launched
    assert launched_spec(args).train.init == str(with_run.path)


def test_new_run_can_train_its_folds_on_ray(saved_manifest, launched):
    pytest.importorskip("ray")
    at = page("train")
    at.radio(key="train_executor").set_value("ray-address")
    at.text_input(key="train_address").input("10.0.0.5:6379")
    at.number_input(key="train_gpus").set_value(0.25)
    next(b for b in at.button if b.label == "Start training").click().run()
    assert not at.exception
    (args,) = launched
    assert args[-6:] == ["--executor", "ray", "--address", "10.0.0.5:6379", "--gpus-per-task", "0.25"]
    assert "executor" not in json.loads(Path(args[args.index("--config") + 1]).read_text())  # not a setting


def test_new_run_names_a_bad_setting(saved_manifest, launched):
    at = page("train")
    next(box for box in at.text_area if box.label == "Other settings").input("train.epochs=many")
    next(b for b in at.button if b.label == "Start training").click().run()
    assert not launched and "train.epochs takes a whole number" in at.error[0].value


def test_new_run_offers_the_functionals_reference(saved_manifest, launched):
    at = page("train")
    at.selectbox(key="train_model").select("functionals").run()
    assert not [box for box in at.number_input if box.label.startswith("k_")]  # no kernel to set
    next(box for box in at.selectbox if box.label == "Functionals").select("egemaps")
    next(box for box in at.selectbox if box.label == "Classifier").select("svm")
    next(b for b in at.button if b.label == "Start training").click().run()
    assert not at.exception
    spec = launched_spec(launched[0])
    assert spec.model_name == "functionals" and (spec.model.feature_set, spec.model.classifier) == ("egemaps", "svm")


def test_new_run_can_test_one_corpus_of_an_aggregate(home, small_demo, launched):
    import pandas as pd

    manifest = pd.read_csv(small_demo / "manifest.csv")
    other = manifest["speaker"].isin(sorted(manifest["speaker"].unique())[:2])  # two speakers become corpus "other"
    manifest.loc[other, "corpus"] = "other"
    manifest.loc[other, "speaker"] = "other-" + manifest.loc[other, "speaker"]
    (home / "manifests").mkdir()
    manifest.to_csv(home / "manifests" / "two.csv", index=False)
    at = page("train")
    next(box for box in at.selectbox if box.label == "Split").select("loso")
    next(box for box in at.selectbox if box.label == "Test corpus").select("other")
    next(b for b in at.button if b.label == "Start training").click().run()
    assert not at.exception
    (args,) = launched
    assert launched_spec(args).train.split == "loso:other"
