"""Voice profiles: a few clips of one person whose statistics normalise that voice's predictions.

Models trained with per-speaker normalisation expect each clip scaled by its speaker's
statistics; a lone clip of a new voice falls back to the training audio's. A profile
gives a voice its own, as training gave each speaker:

    voice = add_to_voice("anna", [("hello.wav", data), ...])   # refused clips come back with reasons
    stats = voice_stats(predictor, voice)                     # that run's statistics of the voice
    predictor.predict_file("clip.wav", speaker_stats=stats)

A profile keeps its clips as recorded, not statistics: statistics depend on a run's
features (log-mel settings, or openSMILE functionals) and its audio cleaning, so each
run computes its own from the same clips through its own `featurize`, and one profile
serves every run. Stored as $SER_HOME/voices/NAME/voice.json (the clips' names and
lengths) beside the clips' files; nothing is pickled.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ser_core.audio import AUDIO_EXTENSIONS, AudioError, load_audio
from ser_core.config import AudioConfig
from ser_core.features.normalize import Stats
from ser_core.files import write_atomic, write_json
from ser_core.paths import voices_dir

if TYPE_CHECKING:
    from ser_core.predict import Predictor, SpeakerStats

VOICE_FILE = "voice.json"
# How many clips the Live page asks for: BENCHMARKS.md, "Calibrating to a voice" (bench/single_clip.py
# --calibration), the fewest that gained on both development corpora (more keep gaining).
SUGGESTED_CLIPS = 5
# Below this many clips a profile normalises a voice worse than the training audio's statistics do (same
# section of BENCHMARKS.md): it is still used, with a warning.
FEW_CLIPS = 3
MIN_SPEECH_S = 1.0  # a clip with less speech than this adds too few frames to describe a voice
# Harvard sentences (IEEE 1969): phonetically balanced, so a few cover the voice's whole spectrum.
PROMPTS = (
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
)
_NAME = re.compile(r"\w[\w .-]{0,39}")


@dataclass(frozen=True)
class VoiceClip:
    name: str  # as the person named it (an upload's file name, "recording 2")
    data: bytes  # the file as recorded: any format load_audio reads
    speech_s: float  # seconds of sound after trimming silence


@dataclass(frozen=True)
class Refusal:
    name: str
    reason: str


@dataclass(frozen=True)
class Voice:
    name: str
    clips: tuple[VoiceClip, ...]
    created: str  # ISO date and time

    @property
    def speech_s(self) -> float:
        return sum(c.speech_s for c in self.clips)


def check_clips(clips: list[tuple[str, bytes]], audio: AudioConfig = AudioConfig(),
                known: tuple[VoiceClip, ...] = ()) -> tuple[list[VoiceClip], list[Refusal]]:
    """The usable clips of (name, bytes) pairs, and a reason for each of the others: unreadable, silent,
    too short (under MIN_SPEECH_S of sound), or the same recording twice (it would count double)."""
    seen = {hashlib.sha1(c.data).digest(): c.name for c in known}
    good, refused = [], []
    for name, data in clips:
        data = bytes(data)
        digest = hashlib.sha1(data).digest()
        if digest in seen:
            refused.append(Refusal(name, f"the same recording as {seen[digest]}"))
            continue
        try:
            seconds = round(len(load_audio(data, audio, name=name)) / audio.sample_rate, 3)
        except AudioError as exc:
            refused.append(Refusal(name, exc.reason))
            continue
        if seconds < MIN_SPEECH_S:
            refused.append(Refusal(name, f"too short for calibration: {seconds:.1f} s of sound "
                                         f"(at least {MIN_SPEECH_S:g} s)"))
            continue
        seen[digest] = name
        good.append(VoiceClip(name, data, seconds))
    return good, refused


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name) or name != name.strip():
        raise ValueError(f"voice name {name!r}: use up to 40 letters, digits, spaces, '.', '-' or '_', "
                         "starting with a letter or digit")
    return name


def _folder(name: str, root: Path | None) -> Path:
    return (root or voices_dir()) / check_name(name)


def add_to_voice(name: str, clips: list[tuple[str, bytes]], audio: AudioConfig = AudioConfig(),
                 root: Path | None = None) -> tuple[Voice, list[Refusal]]:
    """Check `clips` and add the good ones to voice `name`, creating it: -> (the voice, the refused clips).

    Clip files are written first and voice.json last, so a crash leaves the voice as it was.
    Raises ValueError when no clip is usable and the voice has none yet.
    """
    folder = _folder(name, root)
    existing = load_voice(name, root) if (folder / VOICE_FILE).is_file() else Voice(name, (), _now())
    good, refused = check_clips(clips, audio, known=existing.clips)
    if not good and not existing.clips:
        reasons = "; ".join(f"{r.name}: {r.reason}" for r in refused) or "no clips given"
        raise ValueError(f"voice {name!r}: no usable clip ({reasons})")
    records = json.loads((folder / VOICE_FILE).read_text())["clips"] if existing.clips else []
    for clip in good:
        suffix = Path(clip.name).suffix.lower()
        file = f"{len(records) + 1:02d}{suffix if suffix in AUDIO_EXTENSIONS else '.audio'}"
        write_atomic(folder / file, clip.data)
        records.append({"file": file, "name": clip.name, "speech_s": clip.speech_s})
    write_json(folder / VOICE_FILE, {"name": name, "created": existing.created, "clips": records})
    return Voice(name, existing.clips + tuple(good), existing.created), refused


def load_voice(name: str, root: Path | None = None) -> Voice:
    folder = _folder(name, root)
    if not (folder / VOICE_FILE).is_file():
        saved = [v.name for v in list_voices(root)]
        raise FileNotFoundError(f"no voice named {name!r} (saved voices: {', '.join(saved) or 'none'}; "
                                "add one with ser voice add NAME FILES...)")
    record = json.loads((folder / VOICE_FILE).read_text())
    clips = tuple(VoiceClip(c["name"], (folder / c["file"]).read_bytes(), float(c["speech_s"]))
                  for c in record["clips"])
    return Voice(record["name"], clips, record["created"])


def too_few_clips(voice: Voice) -> str | None:
    """Why a profile of so few clips may predict worse than none, or None when it has enough."""
    if len(voice.clips) >= FEW_CLIPS:
        return None
    return (f"voice {voice.name!r} has {len(voice.clips)} clip{'s' if len(voice.clips) > 1 else ''}: with fewer "
            f"than {FEW_CLIPS}, a profile describes a voice worse than the training audio does; add clips "
            f"({SUGGESTED_CLIPS} or more, in different moods)")


def list_voices(root: Path | None = None) -> list[Voice]:
    """Every saved voice, by name."""
    root = root or voices_dir()
    if not root.is_dir():
        return []
    return [load_voice(p.name, root) for p in sorted(root.iterdir()) if (p / VOICE_FILE).is_file()]


def remove_voice(name: str, root: Path | None = None) -> None:
    load_voice(name, root)  # a clear error for an unknown name
    shutil.rmtree(_folder(name, root))


def voice_stamp(name: str, root: Path | None = None) -> float:
    """voice.json's modification time: a cache key that changes when clips are added."""
    return (_folder(name, root) / VOICE_FILE).stat().st_mtime


def calibrates(predictor: Predictor) -> str | None:
    """None when a voice profile changes this run's predictions, else why it does not."""
    modes = {m.features.normalization for m in getattr(predictor, "members", (predictor,))}  # a fusion's two
    if "speaker" in modes:
        return None
    return (f"this run normalises by {' and '.join(sorted(modes))}, not by speaker, so a voice profile "
            "would change nothing")


def voice_stats(predictor: Predictor, voice: Voice) -> Stats | SpeakerStats | tuple:
    """The run's statistics of the voice's clips, through its own cleaning and features (a fusion: one
    per member), to pass as `speaker_stats`. ValueError when the run does not normalise by speaker."""
    reason = calibrates(predictor)
    if reason:
        raise ValueError(f"voice {voice.name!r}: {reason}")
    try:
        return predictor.speaker_stats_of([c.data for c in voice.clips],
                                          [f"{voice.name}: {c.name}" for c in voice.clips])
    except AudioError as exc:  # a run with stricter audio settings than the clips were checked with
        raise ValueError(f"voice {voice.name!r} cannot be used with this run: {exc}") from None


def normalization_used(predictor: Predictor, voice: Voice | None = None, own_clips: int = 0) -> str:
    """In words, which statistics normalised a prediction: the voice profile, the clips' own (several clips
    taken as one speaker: `own_clips`), or the training audio's."""
    if calibrates(predictor) is None:
        if voice is not None:
            return f"the voice profile {voice.name!r} ({len(voice.clips)} clips, {voice.speech_s:.0f} s of speech)"
        if own_clips > 1:
            return f"the joint statistics of these {own_clips} clips, taken as one speaker"
        return "the training audio's statistics (a lone clip of a voice the model has not heard)"
    mode = predictor.features.normalization
    return {"utterance": "this clip's own statistics (the run normalises every clip by itself)",
            "global": "the training audio's statistics (the run normalises every clip so)",
            "none": "none: the run reads the log-mels as they are"}.get(mode, mode)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")
