"""The synthetic demo corpus: an acted-corpus lookalike generated on first launch.

Every speaker says the same pseudo-sentences in every emotion, as actors do in
RAVDESS or EmoDB. Speakers differ in F0, vocal-tract length (formant scale), tempo,
voice quality, loudness and recording channel; emotions move prosody and voice
quality as the literature describes (Banse & Scherer 1996; Scherer 2003; Juslin &
Laukka 2003): F0 level and range, contour shape, speaking rate, intensity, spectral
tilt, breathiness and jitter. Each speaker stresses some cues more than others, and
each rendition is acted with its own strength, so no single cue gives an emotion away.

Layout: ``<speaker>/<speaker>_s<NN>_<emotion>.wav`` (16 kHz mono 16-bit), plus
``manifest.csv`` and ``demo.json`` (the generator's parameters) at the top.

    speaker  f01, f02, ... (female), m01, m02, ... (male); in the manifest "demo-f01"
    NN       sentence number, 01-99 (the text is `sentence_text(NN)`)
    emotion  canonical name, one of DEMO_EMOTIONS
"""

from __future__ import annotations

import json
import os
import re
import zlib
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import soundfile as sf

from ser_core.corpora.common import Labels, Prepared, SkipFile, lookup, match, scan_files
from ser_core.corpora.synth import CONSONANTS, VOWELS, VoiceParams, synthesize_utterance
from ser_core.corpora.vocabulary import EMOTIONS

SAMPLE_RATE = 16000
GENERATOR_VERSION = 1  # bump when the sound changes, so stored corpora are regenerated
GENDER_CODES = {"f": "female", "m": "male"}
EXPECTED = "demo names like f01/f01_s01_angry.wav (<speaker>/<speaker>_s<NN>_<emotion>.wav)"

_NAME = re.compile(r"(?P<speaker>(?P<sex>[fm])\d{2})_s(?P<sentence>\d{2})_(?P<emotion>[a-z]+)")


@dataclass(frozen=True)
class EmotionStyle:
    """How an emotion departs from neutral speech; zero deltas and unit factors are neutral."""

    f0_st: float = 0.0  # F0 level shift, semitones
    range: float = 1.0  # factor on accent height and declination
    final_st: float = 0.0  # added to the final F0 movement (neutral falls 2 st)
    wander: float = 1.0  # factor on slow F0 variability
    tremor_st: float = 0.0  # vocal tremor depth
    rate: float = 1.0  # factor on speaking rate
    pauses: float = 1.0  # factor on pause length
    level_db: float = 0.0  # intensity change
    stress_db: float = 0.0  # added loudness of stressed syllables
    open_quotient: float = 0.0  # negative: pressed voice; positive: lax, breathy
    tilt: float = 0.0  # negative: flatter spectrum, more high-frequency energy
    breathiness: float = 1.0  # factor on aspiration noise
    jitter: float = 1.0
    shimmer: float = 1.0
    articulation: float = 1.0  # factor on vowel spread: precise (>1) or slurred (<1)
    formants: float = 1.0  # factor on formant frequencies (smiling raises them)


# Directions after Scherer (2003, table 2) and Juslin & Laukka (2003, table 7).
EMOTION_STYLES: dict[str, EmotionStyle] = {
    "neutral": EmotionStyle(),
    "happy": EmotionStyle(f0_st=3.5, range=1.7, final_st=2.5, wander=1.5, rate=1.08, pauses=0.9,
                          level_db=3.0, stress_db=1.0, open_quotient=0.0, tilt=-0.1,
                          articulation=1.1, formants=1.06),
    "sad": EmotionStyle(f0_st=-2.0, range=0.45, final_st=-1.5, wander=0.6, rate=0.78, pauses=1.6,
                        level_db=-5.0, stress_db=-2.0, open_quotient=0.12, tilt=0.5, breathiness=1.4,
                        jitter=1.4, shimmer=1.3, articulation=0.85, formants=0.98),
    "angry": EmotionStyle(f0_st=3.0, range=1.5, final_st=-3.0, wander=1.2, rate=1.12, pauses=0.8,
                          level_db=6.0, stress_db=3.0, open_quotient=-0.15, tilt=-0.45, breathiness=0.5,
                          articulation=1.1),
    "fearful": EmotionStyle(f0_st=6.0, range=0.7, final_st=2.5, wander=2.0, tremor_st=0.6, rate=1.2,
                            pauses=1.3, level_db=2.0, stress_db=-1.0, open_quotient=-0.05, tilt=-0.2,
                            breathiness=1.5, jitter=2.5, shimmer=1.5),
}
DEMO_EMOTIONS: tuple[str, ...] = tuple(EMOTION_STYLES)
_EMOTION_NAMES = {emotion: emotion for emotion in DEMO_EMOTIONS}  # file-name code -> label


@dataclass(frozen=True)
class Speaker:
    """A demo speaker's own voice: everything that stays when the emotion changes."""

    name: str  # "f01"
    gender: str  # "female" or "male"
    f0_hz: float
    formant_scale: float  # vocal-tract length: 1 = adult male average
    tempo: float  # speaking-rate factor
    open_quotient: float
    tilt: float
    breathiness: float
    jitter: float
    shimmer: float
    level_db: float
    expressivity: float  # how strongly this speaker acts
    channel_tilt: float  # the speaker's recording session: microphone and room colour
    noise_dbfs: float

    @property
    def key(self) -> int:
        return zlib.crc32(self.name.encode())


def demo_speaker(name: str) -> Speaker:
    """The voice of demo speaker `name` ("f01", "m03", also "demo-f01"); the same on every call.

    F0 and tract length follow the speaker's number along a low-discrepancy sequence, so
    any few speakers of one sex spread over the range; the rest is drawn from the name.
    """
    found = re.fullmatch(r"(?:demo-)?([fm])(\d{2})", name)
    if found is None:
        raise ValueError(f"a demo speaker is named like 'f01' or 'm03', got {name!r}")
    sex, number = found.group(1), int(found.group(2))
    rng = np.random.default_rng(zlib.crc32(f"speaker-{sex}{number:02d}".encode()))
    place = (number * 0.618034) % 1.0  # golden-ratio sequence over [0, 1)
    female = sex == "f"
    low, high = (180.0, 245.0) if female else (95.0, 140.0)
    tract_low, tract_high = (1.12, 1.22) if female else (0.93, 1.03)
    return Speaker(
        name=f"{sex}{number:02d}",
        gender=GENDER_CODES[sex],
        f0_hz=low + (high - low) * place,
        formant_scale=tract_low + (tract_high - tract_low) * (0.5 * place + 0.5 * rng.random()),
        tempo=rng.uniform(0.88, 1.12),
        open_quotient=rng.uniform(0.55, 0.65) if female else rng.uniform(0.45, 0.55),
        tilt=rng.uniform(-0.25, 0.05),
        breathiness=rng.uniform(0.08, 0.16) if female else rng.uniform(0.04, 0.1),
        jitter=rng.uniform(0.004, 0.01),
        shimmer=rng.uniform(0.03, 0.06),
        level_db=rng.uniform(-2.5, 2.5),
        expressivity=rng.uniform(0.75, 1.15),
        channel_tilt=rng.uniform(-0.25, 0.25),
        noise_dbfs=rng.uniform(-68.0, -55.0),
    )


def demo_speakers(n_speakers: int = 10) -> list[Speaker]:
    """The first speakers of the demo roster: ceil(n/2) female (f01...), the rest male (m01...)."""
    if not 1 <= n_speakers <= 198:
        raise ValueError(f"n_speakers must be in [1, 198], got {n_speakers}")
    n_female = (n_speakers + 1) // 2
    return ([demo_speaker(f"f{i:02d}") for i in range(1, n_female + 1)]
            + [demo_speaker(f"m{i:02d}") for i in range(1, n_speakers - n_female + 1)])


def sentence_text(number: int) -> str:
    """Pseudo-sentence `number` (1-99): 7-10 CV syllables in words of 1-3, one stress a word."""
    if not 1 <= number <= 99:
        raise ValueError(f"sentence number must be in [1, 99], got {number}")
    rng = np.random.default_rng([0x5E47, number])
    onsets = [""] + list(CONSONANTS)
    left, words = int(rng.integers(7, 11)), []
    while left:
        size = min(left, int(rng.choice([1, 2, 2, 3, 3])))
        stress = max(size - 2, 0)  # penultimate stress
        syllables = [str(rng.choice(onsets)) + str(rng.choice(list(VOWELS))) for _ in range(size)]
        syllables[stress] = syllables[stress].upper()
        words.append("-".join(syllables))
        left -= size
    if len(words) > 3:
        words[len(words) // 2 - 1] += ","  # a phrase break mid-sentence
    return " ".join(words)


def voice_params(speaker: Speaker, emotion: str, rng: np.random.Generator) -> VoiceParams:
    """One rendition of `speaker` acting `emotion`.

    The speaker's idiosyncrasy (drawn from speaker and emotion, fixed) weighs three cue
    groups (pitch, timing and loudness, voice quality); the rendition's strength (drawn
    from `rng`) scales them all, and small draws make two takes differ.
    """
    style = EMOTION_STYLES.get(emotion)
    if style is None:
        raise ValueError(f"unknown demo emotion {emotion!r}; known: {list(EMOTION_STYLES)}")
    pitch, timing, quality = (
        np.random.default_rng([speaker.key, EMOTIONS.index(emotion)]).uniform(0.7, 1.3, size=3)
        * speaker.expressivity * rng.uniform(0.7, 1.2)
    )

    def toward(factor: float, weight: float) -> float:
        return 1 + weight * (factor - 1)

    spread = toward(style.range, pitch)
    return VoiceParams(
        f0_hz=speaker.f0_hz * 2 ** ((pitch * style.f0_st + rng.normal(0, 0.7)) / 12),
        accent_st=2.5 * spread,
        declination_st=2.0 * spread,
        final_st=-2.0 + pitch * style.final_st,
        wander_st=0.4 * toward(style.wander, pitch),
        tremor_st=pitch * style.tremor_st,
        tremor_hz=rng.uniform(5.0, 7.0),
        rate=speaker.tempo * toward(style.rate, timing) * rng.uniform(0.95, 1.05),
        pause_scale=toward(style.pauses, timing),
        level_db=speaker.level_db + timing * style.level_db + rng.normal(0, 1.5),
        stress_db=max(0.0, 3.0 + timing * style.stress_db),
        open_quotient=float(np.clip(speaker.open_quotient + quality * style.open_quotient, 0.3, 0.85)),
        tilt=float(np.clip(speaker.tilt + quality * style.tilt, -0.8, 0.9)),
        breathiness=speaker.breathiness * toward(style.breathiness, quality),
        jitter=speaker.jitter * toward(style.jitter, quality),
        shimmer=speaker.shimmer * toward(style.shimmer, quality),
        formant_scale=speaker.formant_scale * toward(style.formants, quality),
        articulation=toward(style.articulation, timing),
        channel_tilt=speaker.channel_tilt,
        noise_dbfs=speaker.noise_dbfs + rng.normal(0, 2.0),
    )


def speak(text: str | int, emotion: str = "neutral", speaker: str | Speaker = "f01", *, seed: int = 0,
          sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """One demo clip: float32 (samples,) of `speaker` saying `text` with `emotion`.

    `text` is a pseudo-sentence ("ka-BI-to se-MU") or a sentence number of the corpus;
    the same arguments give the same samples, another `seed` another take.
    """
    text = sentence_text(text) if isinstance(text, int) else text
    speaker = demo_speaker(speaker) if isinstance(speaker, str) else speaker
    if emotion not in EMOTION_STYLES:
        raise ValueError(f"unknown demo emotion {emotion!r}; known: {list(EMOTION_STYLES)}")
    rng = np.random.default_rng([seed, speaker.key, zlib.crc32(text.encode()), EMOTIONS.index(emotion)])
    return synthesize_utterance(text, voice_params(speaker, emotion, rng), rng, sample_rate)


def _write_clip(job: tuple[Path, Speaker, int, str, int]) -> None:
    path, speaker, sentence, emotion, seed = job
    sf.write(path, speak(sentence, emotion, speaker, seed=seed), SAMPLE_RATE, subtype="PCM_16")


def clip_name(speaker: str, sentence: int, emotion: str) -> str:
    return f"{speaker}/{speaker}_s{sentence:02d}_{emotion}.wav"


def manifest_path(corpus_dir: str | Path) -> Path:
    """Where generate_demo_corpus writes the manifest of the corpus in `corpus_dir`."""
    return Path(corpus_dir) / "manifest.csv"


def generate_demo_corpus(out_dir: str | Path, *, n_speakers: int = 10, n_sentences: int = 8,
                         emotions: Sequence[str] = DEMO_EMOTIONS, seed: int = 0, workers: int | None = None,
                         progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """Write the demo corpus under `out_dir` and return its manifest (MANIFEST_COLUMNS).

    A folder whose demo.json holds the same parameters is reused as it is. `workers`
    processes synthesize in parallel (None: one per CPU); `progress(done, total)` is
    called after every clip. demo.json is written last, so an interrupted run is redone.
    """
    unknown = [e for e in emotions if e not in EMOTION_STYLES]
    if unknown or not emotions:
        raise ValueError(f"emotions must be a non-empty subset of {list(EMOTION_STYLES)}, got {list(emotions)}")
    if not 1 <= n_sentences <= 99:
        raise ValueError(f"n_sentences must be in [1, 99], got {n_sentences}")
    root = Path(out_dir).expanduser().resolve()
    speakers = demo_speakers(n_speakers)
    params = {"generator": GENERATOR_VERSION, "n_speakers": n_speakers, "n_sentences": n_sentences,
              "emotions": list(emotions), "seed": seed, "sample_rate": SAMPLE_RATE}
    clips = [(s, n, e) for s in speakers for n in range(1, n_sentences + 1) for e in emotions]
    names = {clip_name(s.name, n, e) for s, n, e in clips}
    stamp = root / "demo.json"
    if _read_stamp(stamp) == params and all((root / name).is_file() for name in names):
        return prepare_demo(root)

    stamp.unlink(missing_ok=True)
    _remove_other_clips(root, names)
    for speaker in speakers:
        (root / speaker.name).mkdir(parents=True, exist_ok=True)
    jobs = [(root / clip_name(s.name, n, e), s, n, e, seed) for s, n, e in clips]
    workers = min(workers or os.cpu_count() or 1, len(jobs))
    with ProcessPoolExecutor(workers) if workers > 1 else nullcontext() as pool:
        written = pool.map(_write_clip, jobs, chunksize=4) if pool else map(_write_clip, jobs)
        for done, _ in enumerate(written, start=1):
            if progress is not None:
                progress(done, len(jobs))
    manifest = prepare_demo(root)
    manifest.to_csv(manifest_path(root), index=False)
    stamp.write_text(json.dumps(params, indent=2) + "\n")
    return manifest


def _read_stamp(stamp: Path) -> dict | None:
    try:
        return json.loads(stamp.read_text())
    except (OSError, ValueError):  # missing or half-written: generate again
        return None


def _remove_other_clips(root: Path, keep: set[str]) -> None:
    """Delete demo clips of an earlier corpus that this one does not have (only demo-named files)."""
    if not root.is_dir():
        return
    for path in root.glob("*/*.wav"):
        name = f"{path.parent.name}/{path.name}"
        if name not in keep and _NAME.fullmatch(path.stem) and path.stem.startswith(path.parent.name + "_"):
            path.unlink()


def _parse(path: Path) -> Labels:
    fields = match(_NAME, path.stem, EXPECTED)
    if path.parent.name != fields["speaker"]:
        raise SkipFile(f"in folder {path.parent.name!r}, not in its speaker's folder {fields['speaker']!r}")
    return Labels(
        speaker=fields["speaker"],
        emotion=lookup(_EMOTION_NAMES, fields["emotion"], "emotion"),
        gender=GENDER_CODES[fields["sex"]],
    )


def scan_demo(corpus_dir: str | Path) -> Prepared:
    """The demo corpus's clips (manifest) and any other audio in the folder (skipped)."""
    return scan_files(corpus_dir, "demo", _parse, EXPECTED)


def prepare_demo(corpus_dir: str | Path) -> pd.DataFrame:
    """Demo manifest (MANIFEST_COLUMNS) from the file names under `corpus_dir`."""
    return scan_demo(corpus_dir).manifest
