"""How fast the demo corpus is made, and how learnable its emotions are.

Generation: the default corpus written into fresh folders `--repeat` times.
Separability, speaker-independent (5-fold GroupKFold by speaker), as UA:
  - baseline: mean and std over time of a log-mel spectrogram (librosa) of the clip
    as the pipeline sees it (`load_audio`: trimmed, RMS-normalised), logistic regression;
  - single features of the raw file (RMS level, median F0, duration), each alone, through
    a shallow tree that may cut the feature into intervals; once as they are and once
    z-scored within each speaker (an oracle that knows every speaker's neutral range).
Should read: baseline well above chance but below 1, single features well below it.

    python bench/demo_separability.py [--out DIR] [--workers N] [--repeat N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import librosa
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, confusion_matrix
from sklearn.model_selection import GroupKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from ser_core.audio import load_audio
from ser_core.config import AudioConfig
from ser_core.corpora.demo import generate_demo_corpus

SAMPLE_RATE = 16000
RAW = AudioConfig(level="none")  # trimmed, level untouched: what the file's loudness says


def timed_generation(repeat: int, workers: int | None) -> None:
    for i in range(repeat):
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            manifest = generate_demo_corpus(folder, workers=workers)
            seconds = time.perf_counter() - start
            start = time.perf_counter()
            generate_demo_corpus(folder, workers=workers)
            reuse = time.perf_counter() - start
        print(f"generation {i + 1}: {len(manifest)} clips, {manifest.duration.sum():.0f} s of audio "
              f"in {seconds:.1f} s (workers={workers or 'all CPUs'}); reuse {reuse * 1000:.0f} ms")


def clip_features(path: str) -> tuple[np.ndarray, dict[str, float]]:
    """(log-mel mean and std (128,), single features) of one clip."""
    wave = load_audio(path)
    mel = librosa.feature.melspectrogram(y=wave, sr=SAMPLE_RATE, n_fft=512, win_length=400,
                                         hop_length=160, n_mels=64)
    log_mel = np.log(mel + 1e-6)
    raw = load_audio(path, RAW)
    frames = librosa.feature.rms(y=raw, frame_length=400, hop_length=160)[0]
    f0 = librosa.yin(raw, fmin=60, fmax=500, sr=SAMPLE_RATE, frame_length=1024, hop_length=160)
    voiced = frames[: f0.size] > 0.3 * frames.max()  # loud frames: mostly vowels
    single = {
        "rms_db": 20 * np.log10(np.sqrt(np.mean(raw ** 2))),
        "median_f0": float(np.median(f0[voiced])),
        "duration": raw.size / SAMPLE_RATE,
    }
    return np.concatenate([log_mel.mean(axis=1), log_mel.std(axis=1)]), single


def speaker_independent_ua(model, features: np.ndarray, labels: np.ndarray,
                           speakers: np.ndarray) -> tuple[float, np.ndarray]:
    """UA of `model` over 5 speaker-disjoint folds, and every clip's out-of-fold prediction."""
    predicted = cross_val_predict(model, features, labels, groups=speakers, cv=GroupKFold(n_splits=5))
    return balanced_accuracy_score(labels, predicted), predicted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="corpus folder (default: a temporary one)")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=2, help="timed generations into fresh folders")
    args = parser.parse_args()

    timed_generation(args.repeat, args.workers)
    with tempfile.TemporaryDirectory() as folder:
        manifest = generate_demo_corpus(args.out or folder, workers=args.workers)
        rows = [clip_features(path) for path in manifest.path]
    features = np.stack([mel for mel, _ in rows])
    single = pd.DataFrame([s for _, s in rows])
    labels, speakers = manifest.emotion.to_numpy(), manifest.speaker.to_numpy()
    classes = sorted(set(labels))
    print(f"{len(manifest)} clips, {len(set(speakers))} speakers, {len(classes)} emotions; "
          f"chance UA {1 / len(classes):.2f}")

    baseline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, C=0.1))
    ua, predicted = speaker_independent_ua(baseline, features, labels, speakers)
    print(f"baseline (log-mel mean+std, logistic regression) UA {ua:.3f}")
    print("  confusion (rows true, columns predicted):", " ".join(classes))
    for name, row in zip(classes, confusion_matrix(labels, predicted, labels=classes)):
        print(f"  {name:>8} {row}")

    tree = DecisionTreeClassifier(max_leaf_nodes=2 * len(classes), random_state=0)
    per_speaker = single.groupby(speakers).transform(lambda column: (column - column.mean()) / column.std())
    for name in single.columns:
        raw_ua, _ = speaker_independent_ua(tree, single[[name]].to_numpy(), labels, speakers)
        z_ua, _ = speaker_independent_ua(tree, per_speaker[[name]].to_numpy(), labels, speakers)
        means = {k: round(float(v), 2) for k, v in single.groupby(labels)[name].mean().items()}
        print(f"single {name:>9}: UA {raw_ua:.3f} (z-scored per speaker {z_ua:.3f}); class means {means}")


if __name__ == "__main__":
    main()
