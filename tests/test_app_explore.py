"""The Explore and Live pages headless (AppTest): with no run yet, and with a trained run."""

import io
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from streamlit.testing.v1 import AppTest

from app import jobs
from app.explore import predict_as_one_speaker, predict_clip
from app.previews import STATIC_DIR_ENV
from ser_core.audio import AudioError
from ser_core.corpora.demo import speak
from ser_core.embedding import Projector, load_embeddings, projection
from ser_core.predict import Predictor
from ser_core.previews import PreviewStore
from ser_core.training.runs import RunFolder

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 60  # the first page of a process imports torch and plotly; the machine is shared


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """An empty $SER_HOME and static folder of this test's own; no first-launch autostart."""
    monkeypatch.setenv("SER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv(STATIC_DIR_ENV, str(tmp_path / "static"))
    monkeypatch.setenv(jobs.AUTOSTART_OFF, "1")
    return tmp_path / "home"


@pytest.fixture(scope="module")
def with_run(trained_run, tmp_path_factory) -> RunFolder:
    """A home with the trained_run fixture and its 2D t-SNE map, shared by the module's tests
    (so its audio previews are made once)."""
    root = tmp_path_factory.mktemp("explore_app")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SER_HOME", str(root / "home"))
        env.setenv(STATIC_DIR_ENV, str(root / "static"))
        env.setenv(jobs.AUTOSTART_OFF, "1")
        run = RunFolder(shutil.copytree(trained_run, root / "home" / "runs" / trained_run.name))
        projection(run, Projector("tsne", 2))
        yield run


def page(name: str) -> AppTest:
    return AppTest.from_file(str(ROOT / "app_pages" / f"{name}.py"), default_timeout=TIMEOUT).run()


def maps(at: AppTest) -> list[dict]:
    """The figures of the hover-to-play maps on the page (AppTest sees the component as unknown)."""
    return [json.loads(element.proto.json)["figure"] for element in at.get("bidi_component")]


def clip_rows(figure: dict) -> list[int]:
    """The run's clips a map shows (its highlighted extra point left out)."""
    return [row for trace in figure["data"] for row, _ in trace["customdata"] if row >= 0]


def wait_until(done, what: str) -> None:
    """Wait up to TIMEOUT seconds for `done()`, the work of a background thread."""
    deadline = time.monotonic() + TIMEOUT
    while not done():
        assert time.monotonic() < deadline, f"{what}: not done in {TIMEOUT} s"
        time.sleep(0.2)


def wav(wave: np.ndarray, sample_rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, wave, sample_rate, format="WAV")
    return buffer.getvalue()


def speech(sentences: int = 1, emotion: str = "angry", speaker: str = "m02") -> bytes:
    return wav(np.concatenate([speak(n, emotion, speaker) for n in range(1, sentences + 1)]))


@pytest.mark.parametrize("name", ["explore", "live"])
def test_pages_without_runs_say_what_to_do(home, name):
    at = page(name)
    assert not at.exception
    assert any("No trained model yet" in info.value for info in at.info)
    assert "Train the demo model" in [button.label for button in at.button]
    assert not maps(at)


def test_explore_shows_every_clip_on_the_map(with_run):
    at = page("explore")
    assert not at.exception
    embeddings, table = load_embeddings(with_run)
    (figure,) = maps(at)
    assert sorted(clip_rows(figure)) == list(range(len(embeddings)))
    assert {trace["name"] for trace in figure["data"]} == set(table["emotion"])
    assert figure["data"][0]["type"] == "scattergl"

    at.selectbox(key="explore_color").set_value("correct").run()
    (figure,) = maps(at)
    assert {trace["name"] for trace in figure["data"]} <= {"correct", "wrong"}
    assert sorted(clip_rows(figure)) == list(range(len(embeddings)))


def test_explore_click_and_lasso_show_clips(with_run):
    at = page("explore")
    _, table = load_embeddings(with_run)
    at.session_state[f"explore_map_{with_run.path.name}"] = {"point": 4, "selection": [0, 1, 2]}
    at.run()
    assert not at.exception
    assert at.subheader[0].value == Path(table["path"][4]).name
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["True emotion"] == table["emotion"][4]
    assert metrics["Predicted"].startswith(table["predicted_emotion"][4])
    assert len(at.get("plotly_chart")) == 2  # probabilities and the log-mel spectrogram
    assert at.subheader[1].value == "3 selected clip(s)"
    assert len(at.dataframe[0].value) == 3


def test_explore_computes_a_missing_map_in_the_background(with_run):
    at = page("explore")
    at.radio(key="explore_dims").set_value(3).run()
    assert not maps(at)
    assert "map of" in at.get("progress")[0].proto.text
    projector = Projector("tsne", 3)
    wait_until(lambda: (with_run.path / "projections" / f"{projector.key()}.npy").is_file(), "the 3D map")
    at.run()
    (figure,) = maps(at)
    assert figure["data"][0]["type"] == "scatter3d"


def test_live_predicts_an_upload_and_places_it_on_the_map(with_run):
    at = page("live")
    assert not at.exception
    at.radio(key="live_source").set_value("Upload").run()
    at.file_uploader(key="live_upload").upload("angry.wav", speech(sentences=3), "audio/wav").run()
    assert not at.exception and not at.warning
    labels = with_run.config()["labels"]
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["Emotion"] in labels
    assert len(at.get("plotly_chart")) == 2  # probabilities and, for 3 sentences, the timeline
    (figure,) = maps(at)
    assert figure["data"][-1]["name"].startswith("your clip")
    assert len(clip_rows(figure)) == len(load_embeddings(with_run)[0])
    assert "nearest clips" in at.caption[-1].value


def test_live_recordings_of_one_speaker(with_run):
    at = page("live")
    for emotion in ("angry", "sad"):
        at.audio_input(key="live_record").set_value((f"{emotion}.wav", speech(emotion=emotion), "audio/wav")).run()
    assert not at.exception
    at.toggle(key="live_one_speaker").set_value(True).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["clip"]) == ["angry.wav", "sad.wav"]
    assert set(table["emotion (as one speaker)"]) <= set(with_run.config()["labels"])
    assert "as one speaker by the joint statistics of these 2 clips" in at.caption[-1].value


@pytest.mark.parametrize("clip, problem", [
    (wav(np.zeros(16000, dtype=np.float32)), "silent"),
    (wav(0.3 * np.sin(np.linspace(0, 200, 1600, dtype=np.float32))), "too short"),
    (wav(np.full(16000 * 61, 0.1, dtype=np.float32)), "too long"),
    (b"this is a text file, not audio", "unreadable"),
])
def test_live_names_the_problem_with_a_bad_clip(with_run, clip, problem):
    at = page("live")
    at.radio(key="live_source").set_value("Upload").run()
    at.file_uploader(key="live_upload").upload("clip.wav", clip, "audio/wav").run()
    assert not at.exception
    assert len(at.warning) == 1 and problem in at.warning[0].value
    assert not maps(at)


def test_predict_helpers_match_the_predictor(trained_run, tmp_path):
    predictor = Predictor.load(trained_run)
    data = speech(sentences=2)
    assert predict_clip(predictor, data, "a.wav").probabilities == predictor.predict_file(data).probabilities
    with pytest.raises(AudioError, match="b.wav: silent"):
        predict_clip(predictor, wav(np.zeros(8000, dtype=np.float32)), "b.wav")

    clips = [(f"{emotion}.wav", speech(emotion=emotion)) for emotion in ("angry", "sad", "neutral")]
    paths = []
    for name, clip in clips:
        (tmp_path / name).write_bytes(clip)
        paths.append(str(tmp_path / name))
    joint = predict_as_one_speaker(predictor, clips)
    expected = predictor.predict_files(paths, same_speaker=True)
    assert [p.source for p in joint] == [name for name, _ in clips]
    for got, want in zip(joint, expected):
        assert got.probabilities == pytest.approx(want.probabilities)


def test_map_gets_its_previews_from_the_background_batch(with_run):
    at = page("explore")
    store = PreviewStore(Path(os.environ[STATIC_DIR_ENV]) / "previews")
    paths = load_embeddings(with_run)[1]["path"].tolist()
    wait_until(lambda: None not in store.lookup(paths), "the previews")
    at.run()
    (figure,) = maps(at)
    previews = [preview for trace in figure["data"] for _, preview in trace["customdata"]]
    assert sorted(previews) == sorted(store.lookup(paths))
    assert len(set(previews)) == len(previews)  # one clip, one preview
    assert not at.get("progress")


def test_map_figure_traces_and_checks():
    from app.scatter import map_figure

    coords = np.arange(12, dtype=np.float32).reshape(6, 2)
    groups = ["sad", "angry", "sad", "angry", "sad", "sad"]
    previews = ["a.ogg", None, "c.ogg", "d.ogg", None, "f.ogg"]
    palette = {"angry": "red", "sad": "blue", "happy": "green"}
    figure = map_figure(coords, groups, list("abcdef"), previews, palette, "Emotion",
                        highlight={"x": 1.0, "y": 2.0, "label": "your clip"})
    assert [trace.name for trace in figure.data] == ["angry", "sad", "your clip"]  # palette order, absent left out
    angry = figure.data[0]
    assert [list(c) for c in angry.customdata] == [[1, ""], [3, "d.ogg"]]
    assert list(angry.x) == [2, 6] and angry.marker.color == "red"
    assert list(figure.data[2].customdata[0]) == [-1, ""]

    three = map_figure(np.c_[coords, coords[:, 0]], groups, list("abcdef"), previews, palette, "Emotion")
    assert {trace.type for trace in three.data} == {"scatter3d"}
    with pytest.raises(ValueError, match="palette"):
        map_figure(coords, groups, list("abcdef"), previews, {"sad": "blue"}, "Emotion")
    with pytest.raises(ValueError, match="coordinates"):
        map_figure(coords[:5], groups, list("abcdef"), previews, palette, "Emotion")


def test_previews_read_while_no_batch_runs_are_final(home, small_demo):
    """Previews that exist but are not indexed for these paths (a moved corpus, a new run) are
    picked up by a batch that ends at once: when clip_previews says nothing is running, every
    name is there, so the map never waits for a rerun that will not come."""
    from app.previews import clip_previews, preview_store
    from ser_core.previews import generate_previews

    paths = sorted(str(p) for p in small_demo.glob("*/*.wav"))[:6]
    store = preview_store()
    generate_previews(store, paths)
    store.index_path.unlink()  # the preview files stay: the next batch only reuses them
    names, batch, running = clip_previews("moved-corpus", paths)
    assert batch is not None
    if running:
        batch.wait(TIMEOUT)
        names, _, running = clip_previews("moved-corpus", paths)
    assert not running and None not in names


def test_live_calibrates_to_a_voice_from_uploads_then_predicts_with_it(with_run):
    from ser_core.voices import add_to_voice, load_voice, voice_stats

    at = page("live")
    assert at.selectbox(key="live_voice").value == ""  # no voice yet: the training audio's statistics
    at.radio(key="live_calibration_source").set_value("Upload").run()
    clips = [(f"{emotion}.wav", speech(emotion=emotion, speaker="f03")) for emotion in ("angry", "sad", "neutral")]
    silent = ("silent.wav", wav(np.zeros(16000, dtype=np.float32)), "audio/wav")
    at.file_uploader(key="live_calibration_upload_0").set_value([(n, d, "audio/wav") for n, d in clips] + [silent])
    at.run()
    assert not at.exception
    assert [w.value for w in at.warning] == ["Not used for calibration (silent.wav): silent: no audible signal."]
    assert any(c.value.startswith("3 of 5 clips ready") for c in at.caption)
    at.text_input(key="live_voice_name").input("tester").run()
    at.button(key="live_save_voice").click().run()
    assert not at.exception
    assert at.selectbox(key="live_voice").value == "tester"  # the saved voice is picked
    assert not any(c.value.startswith("3 of 5") for c in at.caption)  # the recorder starts afresh

    data = speech(emotion="angry", speaker="f03")
    at.radio(key="live_source").set_value("Upload").run()
    at.file_uploader(key="live_upload").upload("mine.wav", data, "audio/wav").run()
    assert not at.exception and not at.warning
    assert any(c.value.startswith("Normalised by the voice profile 'tester' (3 clips") for c in at.caption)
    predictor = Predictor.load(with_run.path)
    stats = voice_stats(predictor, load_voice("tester"))
    want = predictor.predict_file(data, speaker_stats=stats)
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["Emotion"] == want.emotion
    assert metrics["Probability"] == f"{want.probabilities[want.emotion]:.0%}"

    at.selectbox(key="live_voice").set_value("").run()
    assert any(c.value.startswith("Normalised by the training audio's statistics") for c in at.caption)

    add_to_voice("one clip", clips[:1])  # fewer clips than a profile needs: used, with a warning
    at = page("live")
    at.selectbox(key="live_voice").set_value("one clip").run()
    assert not at.exception
    assert [w.value for w in at.warning] == ["Voice 'one clip' has 1 clip: with fewer than 3, a profile describes "
                                             "a voice worse than the training audio does; add clips (5 or more, "
                                             "in different moods)."]


def test_live_draws_a_timeline_only_over_several_windows(with_run):
    at = page("live")
    at.radio(key="live_source").set_value("Upload").run()
    at.file_uploader(key="live_upload").upload("short.wav", speech(sentences=1), "audio/wav").run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 1  # the probabilities only
    assert any(c.value.startswith("The clip is one window long") or c.value.startswith("The clip is under two")
               for c in at.caption)
