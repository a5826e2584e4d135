"""Voice profiles: the statistics of a few clips of one speaker, saved by name, used by any run (ser_core.voices)."""

from __future__ import annotations

import dataclasses
import io
import json

import numpy as np
import pytest
import soundfile as sf

from ser_core.cli import main
from ser_core.corpora.aggregate import read_manifest
from ser_core.features.normalize import fit_stats, speaker_stats
from ser_core.features.store import featurize_manifest
from ser_core.predict import FusionPredictor, Prediction, Predictor
from ser_core.recipes import resolve
from ser_core.voices import (
    MIN_SPEECH_S, VOICE_FILE, add_to_voice, calibrates, check_clips, list_voices, load_voice, normalization_used,
    remove_voice, voice_stats,
)

SPEAKER = "demo-f01"


def wav(wave: np.ndarray, sample_rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, wave, sample_rate, format="WAV")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def speaker_rows(small_demo):
    manifest = read_manifest(small_demo / "manifest.csv")
    return manifest[manifest["speaker"] == SPEAKER].reset_index(drop=True)


@pytest.fixture
def clips(speaker_rows) -> list[tuple[str, bytes]]:
    """Five clips of one demo speaker, as a person would upload them."""
    return [(f"clip{i}.wav", open(path, "rb").read()) for i, path in enumerate(speaker_rows["path"][:5])]


@pytest.fixture
def voices(tmp_path):
    return tmp_path / "voices"


def test_a_profile_normalises_its_speaker_as_training_did(trained_run, small_demo, speaker_rows, voices):
    predictor = Predictor.load(trained_run)
    voice, refused = add_to_voice("f01", [(p, open(p, "rb").read()) for p in speaker_rows["path"]], root=voices)
    assert not refused and len(voice.clips) == len(speaker_rows)
    stats = voice_stats(predictor, voice)
    # training's per-speaker statistics: the feature store's log-mels of the same clips
    stored = featurize_manifest(speaker_rows, predictor.stored_features, progress=False)
    trained = speaker_stats(stored.mels, stored.manifest["speaker"].tolist())[SPEAKER]
    np.testing.assert_allclose(stats.mean, trained.mean, atol=0.02)  # the store keeps float16 log-mels
    np.testing.assert_allclose(stats.std, trained.std, rtol=0.01)
    exact = fit_stats([predictor.featurize(p) for p in speaker_rows["path"]])
    np.testing.assert_array_equal(stats.mean, exact.mean)
    np.testing.assert_array_equal(stats.std, exact.std)


def test_predicting_with_a_voice_is_predicting_its_clips_as_one_speaker(trained_run, clips, voices):
    predictor = Predictor.load(trained_run)
    voice, _ = add_to_voice("f01", clips, root=voices)
    stats = voice_stats(predictor, voice)
    joint = predictor.predict_files([data for _, data in clips], same_speaker=True)
    for (name, data), want in zip(clips, joint):
        got = predictor.predict_file(data, name=name, speaker_stats=stats)
        assert got.probabilities == pytest.approx(want.probabilities)
    alone = predictor.predict_file(clips[0][1])
    assert alone.probabilities != pytest.approx(joint[0].probabilities)  # the voice changes something


def test_bad_clips_are_refused_with_their_reason_and_the_good_ones_kept(clips, voices):
    tone = 0.3 * np.sin(np.linspace(0, 2000, 8000, dtype=np.float32))  # 0.5 s
    bad = [("silent.wav", wav(np.zeros(16000, dtype=np.float32))), ("short.wav", wav(tone)),
           ("notes.wav", b"not audio at all"), ("again.wav", clips[0][1])]
    voice, refused = add_to_voice("f01", clips[:2] + bad, root=voices)
    assert [c.name for c in voice.clips] == ["clip0.wav", "clip1.wav"]
    reasons = {r.name: r.reason for r in refused}
    assert reasons["silent.wav"].startswith("silent")
    assert reasons["short.wav"].startswith("too short") and f"{MIN_SPEECH_S:g} s" in reasons["short.wav"]
    assert reasons["notes.wav"].startswith("unreadable")
    assert reasons["again.wav"] == "the same recording as clip0.wav"
    # adding to a saved voice refuses a clip it already holds
    voice, refused = add_to_voice("f01", clips[:3], root=voices)
    assert len(voice.clips) == 3
    assert [r.reason for r in refused] == ["the same recording as clip0.wav", "the same recording as clip1.wav"]
    with pytest.raises(ValueError, match="no usable clip.*silent.wav: silent"):
        add_to_voice("nobody", bad[:1], root=voices)
    assert not (voices / "nobody" / VOICE_FILE).exists()


def test_a_profile_round_trips_through_json_and_audio_files(clips, voices):
    saved, _ = add_to_voice("Anna K", clips[:2], root=voices)
    saved, _ = add_to_voice("Anna K", clips[2:], root=voices)
    loaded = load_voice("Anna K", root=voices)
    assert loaded == saved and [c.data for c in loaded.clips] == [data for _, data in clips]
    record = json.loads((voices / "Anna K" / VOICE_FILE).read_text())  # plain JSON, no pickle anywhere
    assert [c["name"] for c in record["clips"]] == [name for name, _ in clips]
    for c in record["clips"]:
        assert sf.info(voices / "Anna K" / c["file"]).duration > MIN_SPEECH_S
    assert [v.name for v in list_voices(voices)] == ["Anna K"]
    remove_voice("Anna K", root=voices)
    assert list_voices(voices) == []
    with pytest.raises(FileNotFoundError, match="no voice named 'Anna K'"):
        load_voice("Anna K", root=voices)
    with pytest.raises(ValueError, match="voice name"):
        add_to_voice("../escape", clips, root=voices)


def test_check_clips_uses_the_audio_settings_given(clips):
    from ser_core.config import AudioConfig

    good, refused = check_clips(clips[:1], AudioConfig(min_speech_s=30.0, max_duration_s=60.0))
    assert not good and refused[0].reason.startswith("too short")


def test_runs_that_do_not_normalise_by_speaker_refuse_a_voice(trained_run, clips, voices):
    predictor = Predictor.load(trained_run)
    voice, _ = add_to_voice("f01", clips, root=voices)
    per_clip = Predictor(predictor.model, predictor.labels,
                         dataclasses.replace(predictor.features, normalization="utterance"),
                         predictor.fallback_stats, predictor.device)
    assert "normalises by utterance" in calibrates(per_clip)
    with pytest.raises(ValueError, match="would change nothing"):
        voice_stats(per_clip, voice)
    assert normalization_used(per_clip, voice).startswith("this clip's own statistics")
    assert normalization_used(predictor, voice).startswith("the voice profile 'f01' (5 clips")
    assert normalization_used(predictor).startswith("the training audio's statistics")
    assert normalization_used(predictor, own_clips=3).startswith("the joint statistics of these 3 clips")


def test_a_fusion_calibrates_each_member_with_its_own_features(trained_run, clips, voices):
    member = Predictor.load(trained_run)
    fusion = FusionPredictor((member, member), 0.5, member.labels)
    voice, _ = add_to_voice("f01", clips, root=voices)
    stats = voice_stats(fusion, voice)
    assert len(stats) == 2
    got = fusion.predict_file(clips[0][1], speaker_stats=stats)
    want = member.predict_file(clips[0][1], speaker_stats=stats[0])
    assert got.probabilities == pytest.approx(want.probabilities)


@pytest.fixture(scope="module")
def functionals_run(small_demo, tmp_path_factory):
    from ser_core.training.trainer import train_run

    out = tmp_path_factory.mktemp("runs") / "functionals"
    spec = resolve("demo", {"model.name": "functionals", "model.feature_set": "egemaps", "train.split": "kfold:3"})
    train_run(read_manifest(small_demo / "manifest.csv"), out, spec,
              manifest_path=str(small_demo / "manifest.csv"), progress=False)
    return out


def test_a_functionals_run_uses_a_voice_through_its_functionals(functionals_run, clips, voices):
    predictor = Predictor.load(functionals_run)
    voice, _ = add_to_voice("f01", clips, root=voices)
    stats = voice_stats(predictor, voice)
    assert stats.mean.shape == (88,)  # eGeMAPS functionals, pooled over the voice's clips
    joint = predictor.predict_files([data for _, data in clips], same_speaker=True)
    got = predictor.predict_file(clips[1][1], speaker_stats=stats)
    assert got.probabilities == pytest.approx(joint[1].probabilities)


def test_ser_voice_add_list_remove_and_predict_with_a_voice(trained_run, clips, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SER_HOME", str(tmp_path / "home"))
    paths = []
    for name, data in clips + [("silent.wav", wav(np.zeros(16000, dtype=np.float32)))]:
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))
    assert main(["voice", "add", "me", *paths, str(tmp_path / "missing.wav")]) == 1  # some refused
    out, err = capsys.readouterr()
    assert "voice me: 5 clips" in out
    assert f"refused {paths[-1]}: silent" in err and "missing.wav: no such file" in err
    assert "warning" not in err  # five clips are enough
    assert main(["voice", "add", "few", *paths[:2]]) == 0
    assert "ser: warning: voice 'few' has 2 clips: with fewer than 3" in capsys.readouterr().err
    assert main(["predict", str(trained_run), paths[0], "--voice", "few"]) == 0
    assert "voice 'few' has 2 clips" in capsys.readouterr().err
    assert main(["voice", "remove", "few"]) == 0
    capsys.readouterr()
    assert main(["voice", "list"]) == 0
    assert capsys.readouterr().out.startswith("me: 5 clips")

    assert main(["predict", str(trained_run), *paths[:2], "--voice", "me", "--json"]) == 0
    got = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    predictor = Predictor.load(trained_run)
    stats = voice_stats(predictor, load_voice("me"))
    for row, path in zip(got, paths):
        want = predictor.predict_file(path, speaker_stats=stats).probabilities
        assert row["probabilities"] == pytest.approx(want, abs=1e-4)

    assert main(["predict", str(trained_run), paths[0], "--voice", "nobody"]) == 2
    assert "no voice named 'nobody' (saved voices: me" in capsys.readouterr().err
    assert main(["voice", "remove", "me"]) == 0
    assert main(["voice", "list"]) == 0
    assert "no saved voices" in capsys.readouterr().out


def window(start_s: float, end_s: float) -> dict:
    return {"start_s": start_s, "end_s": end_s, "emotion": "sad", "probabilities": {"sad": 1.0}}


@pytest.mark.parametrize("timeline, several", [
    ([], False),
    ([window(0.0, 1.6), window(0.1, 1.7)], False),  # 1.7 s against a 1.6 s window: the same window twice
    ([window(0.0, 1.6), window(0.8, 2.4), window(1.5, 3.1)], False),
    ([window(0.0, 1.6), window(0.8, 2.4), window(1.6, 3.2)], True),
])
def test_a_timeline_is_shown_only_over_several_windows(timeline, several):
    prediction = Prediction("clip", "sad", {"sad": 1.0}, 3.2, timeline=timeline)
    assert prediction.spans_several_windows is several
