"""Predict emotions with a trained run, with no training data present.

    predictor = Predictor.load("runs/demo-cnn3d")          # a run folder or its model.pt
    result = predictor.predict_file("clip.wav")            # or raw bytes from an upload
    result.emotion, result.probabilities, result.timeline

A clip longer than the model's window is cut into half-overlapping windows: the
clip's probabilities are their mean, and the windows form a timeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ser_core.audio import AudioSource, load_audio
from ser_core.config import FeatureConfig
from ser_core.device import pick_device
from ser_core.features.logmel import log_mel
from ser_core.features.normalize import Stats, fit_stats
from ser_core.features.normalize import speaker_stats as stats_per_speaker
from ser_core.features.volume import sliding_volumes
from ser_core.models import build_model
from ser_core.training.metrics import grouped_scores, scores


@dataclass
class Prediction:
    source: str
    emotion: str
    probabilities: dict[str, float]
    duration_s: float
    timeline: list[dict] = field(default_factory=list)  # one entry per window when there are several
    embedding: np.ndarray | None = None  # the clip's mean embedding (pre-logits)

    def to_dict(self) -> dict:
        return {
            "file": self.source,
            "emotion": self.emotion,
            "probabilities": {k: round(v, 4) for k, v in self.probabilities.items()},
            "duration_s": round(self.duration_s, 3),
            "timeline": self.timeline,
        }


class Predictor:
    """A trained model with the label map, feature settings and normaliser it needs."""

    def __init__(self, model: torch.nn.Module, labels: list[str], features: FeatureConfig,
                 fallback_stats: Stats, device: torch.device):
        self.model = model.eval()
        self.labels = labels
        self.features = features
        self.fallback_stats = fallback_stats  # statistics of all training audio
        self.device = device

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> "Predictor":
        path = Path(path)
        checkpoint_path = path / "model.pt" if path.is_dir() else path
        if not checkpoint_path.is_file():
            raise FileNotFoundError(
                f"{checkpoint_path}: no model file (was the run trained with --no-final, or is it still running?)"
            )
        try:
            checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ValueError(f"{checkpoint_path}: not a SER Explorer model file ({type(exc).__name__})") from None
        model = build_model(**checkpoint["model_args"])
        model.load_state_dict(checkpoint["state_dict"])
        dev = pick_device(device)
        return cls(
            model.to(dev),
            list(checkpoint["labels"]),
            FeatureConfig.from_dict(checkpoint["features"]),
            Stats.from_dict(checkpoint["normalization"]),
            dev,
        )

    @property
    def window_frames(self) -> int:
        return self.features.window_frames

    def log_mel(self, source: AudioSource, name: str | None = None) -> np.ndarray:
        """The clip's raw log-mel (T, F); AudioError names the clip if it cannot be used."""
        return log_mel(load_audio(source, self.features.audio, name=name), self.features)

    def predict_file(self, source: AudioSource, name: str | None = None) -> Prediction:
        label = name or (str(source) if isinstance(source, (str, Path)) else "<audio bytes>")
        return self.predict_mel(self.log_mel(source, name=label), label)

    def predict_files(self, paths: list[str], same_speaker: bool = False) -> list[Prediction]:
        """Several files; with same_speaker their joint statistics normalise them (speaker mode)."""
        mels = [self.log_mel(p) for p in paths]
        stats = fit_stats(mels) if same_speaker else None
        return [self.predict_mel(m, str(p), stats) for m, p in zip(mels, paths)]

    def normalize(self, mel: np.ndarray, speaker_stats: Stats | None = None) -> np.ndarray:
        mode = self.features.normalization
        if mode == "none":
            return mel.astype(np.float32)
        if mode == "utterance":
            return fit_stats([mel]).apply(mel)
        if mode == "speaker" and speaker_stats is not None:
            return speaker_stats.apply(mel)
        # Global mode, or a speaker with no other clips: the training audio's statistics. Not the clip's own,
        # which would erase its loudness and spectral tilt (BENCHMARKS.md, "A lone clip of a new speaker").
        return self.fallback_stats.apply(mel)

    @torch.no_grad()
    def predict_mel(self, mel: np.ndarray, source: str = "<array>", speaker_stats: Stats | None = None) -> Prediction:
        normalized = self.normalize(mel, speaker_stats)
        f = self.features
        hop = max(1, self.window_frames // 2)
        volumes, starts = sliding_volumes(normalized, f.segments, f.segment_frames, hop)
        x = torch.from_numpy(np.ascontiguousarray(volumes, dtype=np.float32)).to(self.device)
        feats = self.model.forward_features(x)
        probs = self.model.forward_head(feats).float().softmax(-1).cpu().numpy()
        mean = probs.mean(0)
        seconds_per_frame = f.hop_length / f.sample_rate
        timeline = []
        if len(probs) > 1:
            for start, p in zip(starts, probs):
                timeline.append({
                    "start_s": round(float(start) * seconds_per_frame, 3),
                    "end_s": round(float(start + self.window_frames) * seconds_per_frame, 3),
                    "emotion": self.labels[int(p.argmax())],
                    "probabilities": {k: round(float(v), 4) for k, v in zip(self.labels, p)},
                })
        return Prediction(
            source=source,
            emotion=self.labels[int(mean.argmax())],
            probabilities={k: float(v) for k, v in zip(self.labels, mean)},
            duration_s=mel.shape[0] * seconds_per_frame,
            timeline=timeline,
            embedding=feats.float().mean(0).cpu().numpy(),
        )


def evaluate_manifest(predictor: Predictor, manifest: pd.DataFrame, merge: dict[str, str] | None = None,
                      cache_dir: str | Path | None = None, progress: bool = True) -> dict:
    """Score a trained model on other data: only emotions it knows; speakers normalised by their own audio."""
    from ser_core.features.store import featurize_manifest

    rows = manifest.assign(emotion=manifest["emotion"].replace(merge or {}))
    known = rows[rows["emotion"].isin(predictor.labels)].reset_index(drop=True)
    if known.empty:
        raise ValueError(f"no clips with the model's emotions {predictor.labels} in the manifest")
    feats = featurize_manifest(known, predictor.features, cache_dir=cache_dir, progress=progress)
    kept = feats.manifest
    speakers = kept["speaker"].astype(str).tolist()
    # speaker statistics come from each test speaker's own (unlabeled) audio
    per_speaker = stats_per_speaker(feats.mels, speakers) if predictor.features.normalization == "speaker" else {}
    index = {label: i for i, label in enumerate(predictor.labels)}
    predicted = [index[predictor.predict_mel(mel, speaker_stats=per_speaker.get(speaker)).emotion]
                 for mel, speaker in zip(feats.mels, speakers)]
    table = kept[["path", "corpus", "speaker", "emotion"]].copy()
    table["label"] = table["emotion"].map(index)
    table["predicted"] = predicted
    s = scores(table["label"].to_numpy(), table["predicted"].to_numpy(), len(predictor.labels))
    return {
        "ua": s["ua"], "wa": s["wa"], "macro_f1": s["macro_f1"], "n": s["n"], "labels": predictor.labels,
        "confusion": s["confusion"], "recall": s["recall"],
        "per_speaker": grouped_scores(table, "speaker", len(predictor.labels)),
        "per_corpus": grouped_scores(table, "corpus", len(predictor.labels)),
        "skipped": len(manifest) - len(kept),
    }
