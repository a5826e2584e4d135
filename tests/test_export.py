"""`ser export`: the final model as a torch.export program, with what it needs to be used alone."""

import json

import librosa
import numpy as np
import pandas as pd
import pytest
import torch

from ser_core.audio import load_audio
from ser_core.cli import main
from ser_core.config import FeatureConfig
from ser_core.export import export_run, load_exported
from ser_core.features.logmel import log_mel
from ser_core.features.volume import to_volume
from ser_core.predict import Predictor


@pytest.fixture(scope="module")
def exported(trained_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "cnn3d"
    export_run(trained_run, out)
    return out


def test_the_program_computes_what_the_trained_model_does(trained_run, exported):
    module, description = load_exported(exported)
    model = Predictor.load(trained_run).model
    s, l, f = model.input_shape
    assert description["input"]["shape"] == ["batch", 1, s, l, f]
    for batch in (1, 5):  # any batch size
        x = torch.randn(batch, 1, s, l, f)
        logits, embedding = module(x)
        with torch.no_grad():
            assert torch.allclose(logits, model(x), atol=1e-5)
            assert torch.allclose(embedding, model.forward_features(x), atol=1e-5)
        assert embedding.shape == (batch, description["outputs"]["embedding"][1])


def test_the_recipe_in_model_json_rebuilds_the_input_with_librosa(trained_run, exported, small_demo):
    _, description = load_exported(exported)
    features = FeatureConfig.from_dict(description["features"])
    clip = sorted(small_demo.rglob("*.wav"))[0]
    wave = load_audio(clip, features.audio)
    ours = log_mel(wave, features)
    theirs = librosa.power_to_db(
        librosa.feature.melspectrogram(y=wave, sr=features.sample_rate, n_fft=features.n_fft,
                                       hop_length=features.hop_length, win_length=features.win_length,
                                       n_mels=features.n_mels, fmin=features.f_min, fmax=features.f_max,
                                       pad_mode="constant"),
        ref=1.0, amin=1e-10, top_db=None).T
    assert theirs.shape == ours.shape and np.abs(theirs - ours).max() < 0.05  # dB
    stats = description["normalization"]
    normalized = (theirs - np.array(stats["mean"])) / np.array(stats["std"])
    volume = to_volume(normalized, features.segments, features.segment_frames)
    assert len(ours) <= features.window_frames  # one window, so SER Explorer's own prediction is this one volume
    window, frames = features.window_frames, len(theirs)
    by_the_text = np.zeros((window, features.n_mels))  # "(W - T) // 2 zeros (the mean) before it, the rest after"
    by_the_text[(window - frames) // 2 : (window - frames) // 2 + frames] = normalized
    np.testing.assert_array_equal(by_the_text.reshape(volume.shape), volume)
    module, _ = load_exported(exported)
    logits, _ = module(torch.from_numpy(volume[None].astype(np.float32)))
    expected = Predictor.load(trained_run).predict_file(clip)
    probabilities = logits.softmax(-1)[0].detach().numpy()
    assert np.allclose(probabilities, [expected.probabilities[k] for k in description["labels"]], atol=0.02)


def test_tables_and_scores_travel_with_the_model(trained_run, exported):
    _, description = load_exported(exported)
    results = json.loads((trained_run / "results.json").read_text())
    assert description["cross_validation"]["ua"] == results["ua"]
    assert description["labels"] == results["labels"]
    table = pd.read_csv(exported / "embeddings.csv")
    assert len(table) == results["clips"] and {"path", "speaker", "emotion", "e0"} <= set(table.columns)
    assert (exported / "predictions.csv").read_bytes() == (trained_run / "predictions.csv").read_bytes()


def test_the_apps_download_is_the_export_zipped(trained_run):
    import io
    import zipfile

    from ser_core.export import FILES, export_zip

    with zipfile.ZipFile(io.BytesIO(export_zip(trained_run))) as archive:
        assert sorted(archive.namelist()) == sorted(set(FILES) - {"model.npz"})  # a network: model.pt2
        assert json.loads(archive.read("model.json"))["format"] == "ser-explorer-export/1"


def test_export_command_and_its_refusals(trained_run, tmp_path, capsys):
    out = tmp_path / "exp"
    assert main(["export", str(trained_run), "--out", str(out)]) == 0
    assert "model.pt2" in capsys.readouterr().out
    assert main(["export", str(trained_run), "--out", str(out)]) == 2  # not over an existing export
    assert "not empty" in capsys.readouterr().err
    assert main(["export", str(trained_run), "--out", str(out), "--overwrite"]) == 0
    no_model = tmp_path / "no-model"
    no_model.mkdir()
    assert main(["export", str(no_model), "--out", str(tmp_path / "x")]) == 2
    assert "no final model" in capsys.readouterr().err
