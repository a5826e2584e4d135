"""Predict emotions with a trained run, with no training data present.

    predictor = Predictor.load("runs/demo-cnn3d")          # a run folder or its model.pt
    result = predictor.predict_file("clip.wav")            # or raw bytes from an upload
    result.emotion, result.probabilities, result.timeline

A clip longer than the model's window is cut into half-overlapping windows: the
clip's probabilities are their mean, and the windows form a timeline.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from ser_core.audio import AudioSource, load_audio
from ser_core.config import FeatureConfig, FunctionalsFeatures, RunSpec
from ser_core.device import pick_device
from ser_core.features.logmel import log_mel
from ser_core.features.normalize import Stats, fit_stats
from ser_core.features.volume import sliding_volumes
from ser_core.models import build_model
from ser_core.training.linear import LinearModel, load_linear
from ser_core.training.linear_head import LinearHead
from ser_core.training.metrics import grouped_scores, scores
from ser_core.training.runs import FUSION_MODEL_FILE, MODEL_FILE, RunFolder


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
            "duration_s": round(self.duration_s, 3) if np.isfinite(self.duration_s) else None,
            "timeline": self.timeline,
        }

    @property
    def spans_several_windows(self) -> bool:
        """Whether the timeline tells something: the clip is at least two windows long. A shorter clip's
        windows overlap almost wholly and say the same thing twice."""
        if not self.timeline:
            return False
        window_s = self.timeline[0]["end_s"] - self.timeline[0]["start_s"]
        return self.timeline[-1]["end_s"] - self.timeline[0]["start_s"] >= 2 * window_s


class SpeakerStats(NamedTuple):
    """A speaker's statistics for a network with a linear head (train.head="linear"): its log-mels' and,
    the log-mels normalised by those, its embeddings'."""

    mels: Stats
    embeddings: Stats


class Predictor:
    """A trained model with the label map, feature settings and normaliser it needs."""

    head: LinearHead | None = None  # here too for the subclasses, whose __init__ has no head to set

    def __init__(self, model: torch.nn.Module, labels: list[str], features: FeatureConfig,
                 fallback_stats: Stats, device: torch.device, head: LinearHead | None = None):
        self.model = model.eval()
        self.labels = labels
        self.features = features
        self.fallback_stats = fallback_stats  # statistics of all training audio
        self.device = device
        self.head = head  # train.head="linear": what reads the embedding instead of the network's classifier

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> "Predictor":
        """A run folder's final model (model.pt, model.npz or fusion.json: RunFolder.final_model_path) or such a file."""
        path = Path(path)
        checkpoint_path = (RunFolder(path).final_model_path or path / MODEL_FILE) if path.is_dir() else path
        if checkpoint_path.name == FUSION_MODEL_FILE:
            return FusionPredictor.load_json(checkpoint_path, device)
        if checkpoint_path.suffix == ".npz":
            return FunctionalsPredictor.load_npz(checkpoint_path)
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
            LinearHead.from_checkpoint(checkpoint["head"]) if "head" in checkpoint else None,
        )

    @property
    def window_frames(self) -> int:
        return self.features.window_frames

    @property
    def stored_features(self) -> FeatureConfig | FunctionalsFeatures:
        """What the model reads of a clip, as the feature store computes it."""
        return self.features

    @property
    def listens(self) -> str:
        """How the model hears a clip, for people."""
        return (f"windows of {self.features.window_seconds:.1f} s, so a longer clip also gets a timeline "
                "(the mean of its windows is the clip's prediction)")

    def log_mel(self, source: AudioSource, name: str | None = None) -> np.ndarray:
        """The clip's raw log-mel (T, F); AudioError names the clip if it cannot be used."""
        return log_mel(load_audio(source, self.features.audio, name=name), self.features)

    def featurize(self, source: AudioSource, name: str | None = None) -> np.ndarray:
        """What `predict_mel` takes of a clip: its log-mel here."""
        return self.log_mel(source, name=name)

    def predict_file(self, source: AudioSource, name: str | None = None,
                     speaker_stats: Stats | SpeakerStats | None = None) -> Prediction:
        """One clip; `speaker_stats` (from `speaker_stats_of`, a voice profile) normalise it as its speaker's."""
        label = name or (str(source) if isinstance(source, (str, Path)) else "<audio bytes>")
        return self.predict_mel(self.featurize(source, name=label), label, speaker_stats)

    def speaker_stats_of(self, sources: list[AudioSource], names: list[str] | None = None) -> Stats | SpeakerStats:
        """The statistics a speaker of these clips is normalised by (what `predict_files(..., same_speaker=True)`
        uses): `stats_of` their features."""
        names = names or [str(s) for s in sources]
        return self.stats_of([self.featurize(s, name=n) for s, n in zip(sources, names)])

    def stats_of(self, features: list[np.ndarray]) -> Stats | SpeakerStats:
        """One speaker's statistics from its clips' features, pooled as training pooled each speaker's clips;
        with a linear head, its embeddings' too."""
        stats = fit_stats(features)
        if self.head is None:
            return stats
        embeddings = np.stack([self._embed(stats.apply(f)).mean(0) for f in features])
        return SpeakerStats(stats, self.head.speaker_stats(embeddings))

    def predict_files(self, sources: list[AudioSource], same_speaker: bool = False,
                      names: list[str] | None = None) -> list[Prediction]:
        """Several clips (paths or bytes); with same_speaker their joint statistics normalise them (speaker mode)."""
        names = names or [str(s) for s in sources]
        mels = [self.featurize(s, name=n) for s, n in zip(sources, names)]
        stats = self.stats_of(mels) if same_speaker else None
        return [self.predict_mel(m, n, stats) for m, n in zip(mels, names)]

    def normalize(self, mel: np.ndarray, speaker_stats: Stats | SpeakerStats | None = None) -> np.ndarray:
        if isinstance(speaker_stats, SpeakerStats):
            speaker_stats = speaker_stats.mels
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
    def _embed(self, normalized: np.ndarray) -> np.ndarray:
        """(T, F) normalised log-mel -> (windows, D): the embeddings of its half-overlapping windows."""
        return self._windows(normalized)[0].float().cpu().numpy()

    @torch.no_grad()
    def _windows(self, normalized: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
        f = self.features
        hop = max(1, self.window_frames // 2)
        volumes, starts = sliding_volumes(normalized, f.segments, f.segment_frames, hop)
        x = torch.from_numpy(np.ascontiguousarray(volumes, dtype=np.float32)).to(self.device)
        return self.model.forward_features(x), starts

    @torch.no_grad()
    def predict_mel(self, mel: np.ndarray, source: str = "<array>",
                    speaker_stats: Stats | SpeakerStats | None = None) -> Prediction:
        normalized = self.normalize(mel, speaker_stats)
        f = self.features
        feats, starts = self._windows(normalized)
        if self.head is None:
            probs = self.model.forward_head(feats).float().softmax(-1).cpu().numpy()
            mean = probs.mean(0)
        else:  # the clip's embedding is its windows' mean, as the head was fitted on
            if isinstance(speaker_stats, Stats):
                raise TypeError("this model's linear head needs its speaker's embedding statistics too: "
                                "pass stats_of(...) or speaker_stats_of(...), not log-mel Stats")
            embeddings = feats.float().cpu().numpy()
            speaker = speaker_stats.embeddings if speaker_stats is not None else None
            probs = self.head.probabilities(embeddings, speaker)
            mean = self.head.probabilities(embeddings.mean(0, keepdims=True), speaker)[0]
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


class FunctionalsPredictor(Predictor):
    """The functionals model of a run: openSMILE functionals of the whole clip, standardised, a linear layer.

    One vector a clip, so no timeline; its embedding is the standardised functionals, as on the map.
    """

    def __init__(self, model: LinearModel, labels: list[str], features: FeatureConfig, fallback_stats: Stats,
                 functionals_features: FunctionalsFeatures):
        self.model, self.labels, self.features, self.fallback_stats = model, labels, features, fallback_stats
        self.functionals_features = functionals_features
        self.device = torch.device("cpu")

    @classmethod
    def load_npz(cls, path: Path) -> "FunctionalsPredictor":
        model, header, stats = load_linear(path)
        spec = RunSpec.from_dict(header["spec"])
        return cls(model, list(header["labels"]), spec.features, stats, spec.stored_features)

    @property
    def stored_features(self) -> FunctionalsFeatures:
        return self.functionals_features

    @property
    def listens(self) -> str:
        return f"the whole clip at once, as its {self.functionals_features.feature_set} functionals: no timeline"

    def featurize(self, source: AudioSource, name: str | None = None) -> np.ndarray:
        """The clip's functionals (1, D); AudioError names the clip if it cannot be used."""
        return self._featurize_with_length(source, name)[0]

    def _featurize_with_length(self, source: AudioSource, name: str | None) -> tuple[np.ndarray, float]:
        from ser_core.features.functionals import functionals

        wave = load_audio(source, self.features.audio, name=name)
        return functionals(wave, self.functionals_features), len(wave) / self.features.sample_rate

    def predict_file(self, source: AudioSource, name: str | None = None,
                     speaker_stats: Stats | None = None) -> Prediction:
        label = name or (str(source) if isinstance(source, (str, Path)) else "<audio bytes>")
        x, seconds = self._featurize_with_length(source, label)
        return dataclasses.replace(self.predict_mel(x, label, speaker_stats), duration_s=seconds)

    def predict_files(self, sources: list[AudioSource], same_speaker: bool = False,
                      names: list[str] | None = None) -> list[Prediction]:
        names = names or [str(s) for s in sources]
        rows = [self._featurize_with_length(s, n) for s, n in zip(sources, names)]
        stats = fit_stats([x for x, _ in rows]) if same_speaker else None
        return [dataclasses.replace(self.predict_mel(x, n, stats), duration_s=seconds)
                for (x, seconds), n in zip(rows, names)]

    def predict_mel(self, mel: np.ndarray, source: str = "<array>", speaker_stats: Stats | None = None) -> Prediction:
        """`mel` is the clip's functionals (1, D), as `featurize` gives them."""
        normalized = self.normalize(mel, speaker_stats)
        probs = self.model.probabilities(normalized)[0]
        return Prediction(
            source=source,
            emotion=self.labels[int(probs.argmax())],
            probabilities={k: float(v) for k, v in zip(self.labels, probs)},
            duration_s=float("nan"),
            embedding=normalized[0],
        )


class FusionPredictor(Predictor):
    """A late fusion of two runs' final models (ser_core.training.fusion): w * p_A + (1 - w) * p_B per clip."""

    def __init__(self, members: tuple[Predictor, Predictor], weight: float, labels: list[str]):
        self.members, self.weight, self.labels = members, weight, labels
        self.features, self.fallback_stats = members[0].features, members[0].fallback_stats
        self.model, self.device = None, members[0].device

    @classmethod
    def load_json(cls, path: Path, device: str = "cpu") -> "FusionPredictor":
        record = json.loads(Path(path).read_text())
        members = tuple(Predictor.load(Path(path).parent / member, device=device) for member in record["members"])
        if any(m.labels != record["labels"] for m in members):
            raise ValueError(f"{path}: its two models no longer predict the emotions {record['labels']}")
        return cls(members, float(record["weight"]), list(record["labels"]))

    @property
    def listens(self) -> str:
        return (f"two models, their probabilities blended ({self.weight:.1f} of the first): "
                f"{self.members[0].listens}; and {self.members[1].listens}")

    @property
    def stored_features(self):
        raise ValueError("a fusion reads two kinds of features; score it with ser compare or ser evaluate "
                         "on its members")

    def predict_mel(self, mel: np.ndarray, source: str = "<array>", speaker_stats: Stats | None = None) -> Prediction:
        raise ValueError("a fusion reads two kinds of features: predict files or clips with it, not one array")

    def _fuse(self, a: Prediction, b: Prediction) -> Prediction:
        probs = {k: self.weight * a.probabilities[k] + (1 - self.weight) * b.probabilities[k] for k in self.labels}
        return dataclasses.replace(a, emotion=max(probs, key=probs.get), probabilities=probs, timeline=[])

    def speaker_stats_of(self, sources: list[AudioSource], names: list[str] | None = None) -> tuple:
        """Each member's `speaker_stats_of` the clips, through its own features: pass the pair as `speaker_stats`."""
        return tuple(m.speaker_stats_of(sources, names) for m in self.members)

    def predict_file(self, source: AudioSource, name: str | None = None,
                     speaker_stats: tuple | None = None) -> Prediction:
        pair = speaker_stats or (None, None)
        return self._fuse(*(m.predict_file(source, name, s) for m, s in zip(self.members, pair)))

    def predict_files(self, sources: list[AudioSource], same_speaker: bool = False,
                      names: list[str] | None = None) -> list[Prediction]:
        a, b = (m.predict_files(sources, same_speaker, names) for m in self.members)
        return [self._fuse(x, y) for x, y in zip(a, b)]


def evaluate_manifest(predictor: Predictor, manifest: pd.DataFrame, merge: dict[str, str] | None = None,
                      cache_dir: str | Path | None = None, progress: bool = True) -> dict:
    """Score a trained model on other data: only emotions it knows; speakers normalised by their own audio."""
    from ser_core.features.store import featurize_manifest

    rows = manifest.assign(emotion=manifest["emotion"].replace(merge or {}))
    known = rows[rows["emotion"].isin(predictor.labels)].reset_index(drop=True)
    if known.empty:
        raise ValueError(f"no clips with the model's emotions {predictor.labels} in the manifest")
    feats = featurize_manifest(known, predictor.stored_features, cache_dir=cache_dir, progress=progress)
    kept = feats.manifest
    speakers = kept["speaker"].astype(str).tolist()
    # speaker statistics come from each test speaker's own (unlabeled) audio
    per_speaker = {}
    if predictor.features.normalization == "speaker":
        for speaker in sorted(set(speakers)):
            per_speaker[speaker] = predictor.stats_of([m for m, s in zip(feats.mels, speakers) if s == speaker])
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
