"""A source-filter voice that speaks pseudo-sentences (Klatt 1980, much simplified).

Source: a Rosenberg (1971) glottal flow pulse train, differentiated (flow derivative
and lip radiation), with per-cycle jitter (period) and shimmer (amplitude), tilted
steeper (low-pass) or flatter (pre-emphasis) and mixed with aspiration noise that is
louder while the glottis is open. Filter: a cascade of eight second-order formant resonators whose frequencies
move every 5 ms, so vowels glide into each other and into consonant loci. Consonant
noise (stop bursts, fricatives) runs through a parallel band-pass branch.

Text: words separated by spaces, syllables by "-", a stressed syllable in capitals,
"," for a pause. A syllable is at most one consonant and a vowel (a e i o u):
"ka-BI-to se-MU, la-NO-pi". This module knows nothing of speakers or emotions: a
`VoiceParams` holds every setting of one rendition.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from scipy.ndimage import uniform_filter1d
from scipy.signal import butter, lfilter, sosfilt
from scipy.signal.windows import tukey

HOP_S = 0.005  # control rate: formants, F0 and amplitudes are set every 5 ms
REF_DBFS = -26.0  # speech RMS of a voice with level_db = 0

# F1-F4 in Hz of an adult male vocal tract (after Peterson & Barney 1952, Hillenbrand 1995).
VOWELS: dict[str, tuple[float, ...]] = {
    "a": (730, 1090, 2440, 3400),
    "e": (480, 1850, 2550, 3450),
    "i": (280, 2250, 2950, 3500),
    "o": (480, 900, 2450, 3350),
    "u": (310, 870, 2250, 3300),
}
SCHWA = np.array([500, 1500, 2500, 3400], dtype=float)  # where hypo-articulated vowels drift
# F5 and up barely move with the vowel: those of a uniform 17.5 cm tube. Without them a
# cascade at 16 kHz falls 60 dB/octave above F5 and sounds muffled.
HIGH_FORMANTS = np.array([4500, 5500, 6500, 7500], dtype=float)
BANDWIDTHS = np.array([70, 90, 150, 220, 300, 400, 500, 600], dtype=float)  # Hz, F1-F8


class Consonant(NamedTuple):
    manner: str  # "stop", "fricative", "aspirate", "nasal" or "liquid"
    voiced: bool
    locus: tuple[float, float, float] | None  # F1-F3 the tract heads for; None: the vowel's own
    noise: tuple[float, float, float] | None  # band (Hz, male tract) and gain of the burst/frication
    duration_s: float  # closure or constriction at speaking rate 1


CONSONANTS: dict[str, Consonant] = {
    "p": Consonant("stop", False, (300, 900, 2300), (400, 2000, 0.25), 0.06),
    "t": Consonant("stop", False, (300, 1800, 2700), (2500, 6500, 0.3), 0.055),
    "k": Consonant("stop", False, (300, 2100, 2500), (1400, 3500, 0.3), 0.06),
    "b": Consonant("stop", True, (250, 900, 2300), (400, 2000, 0.12), 0.045),
    "d": Consonant("stop", True, (250, 1800, 2700), (2500, 6500, 0.15), 0.04),
    "g": Consonant("stop", True, (250, 2100, 2500), (1400, 3500, 0.15), 0.045),
    "s": Consonant("fricative", False, (300, 1800, 2700), (3800, 7500, 0.35), 0.09),
    "f": Consonant("fricative", False, (300, 1000, 2300), (1200, 7000, 0.1), 0.08),
    "z": Consonant("fricative", True, (300, 1800, 2700), (3800, 7500, 0.2), 0.07),
    "v": Consonant("fricative", True, (300, 1000, 2300), (1200, 7000, 0.07), 0.06),
    "h": Consonant("aspirate", False, None, None, 0.06),
    "m": Consonant("nasal", True, (250, 1000, 2200), None, 0.065),
    "n": Consonant("nasal", True, (250, 1500, 2400), None, 0.06),
    "l": Consonant("liquid", True, (360, 1250, 2800), None, 0.055),
    "r": Consonant("liquid", True, (420, 1300, 1700), None, 0.05),
}

# Voicing amplitude of each manner, relative to a vowel.
_VOICING = {"stop": 0.12, "fricative": 0.35, "aspirate": 0.0, "nasal": 0.4, "liquid": 0.7}


@dataclass(frozen=True)
class VoiceParams:
    """Every setting of one rendition: who speaks, and how they sound right now."""

    f0_hz: float = 120.0  # F0 level at the start of the utterance, before accents
    accent_st: float = 2.5  # pitch-accent height on stressed syllables, semitones
    declination_st: float = 2.0  # F0 drift down over the utterance, semitones
    final_st: float = -2.0  # F0 movement over the last syllable (negative falls, positive rises)
    wander_st: float = 0.4  # slow random F0 movement, semitones (std)
    tremor_st: float = 0.0  # vocal tremor depth, semitones
    tremor_hz: float = 6.0
    rate: float = 1.0  # speaking-rate factor (2 = twice as fast)
    pause_scale: float = 1.0  # factor on pauses between words and phrases
    level_db: float = 0.0  # speech RMS relative to REF_DBFS
    stress_db: float = 3.0  # how much louder stressed vowels are
    open_quotient: float = 0.55  # open part of the glottal cycle: low = pressed, high = breathy
    tilt: float = 0.0  # source spectral tilt: >0 steeper (double low-pass pole), <0 flatter (pre-emphasis)
    breathiness: float = 0.08  # aspiration noise relative to the voiced source
    jitter: float = 0.008  # period perturbation, relative std per glottal cycle
    shimmer: float = 0.04  # amplitude perturbation, relative std per glottal cycle
    formant_scale: float = 1.0  # 1 = adult male tract; shorter tracts have higher formants
    articulation: float = 1.0  # vowel spread around schwa: <1 slurred, >1 hyper-articulated
    channel_tilt: float = 0.0  # recording colour, as `tilt`: >0 dull, <0 bright
    noise_dbfs: float = -60.0  # background noise RMS

    def __post_init__(self) -> None:
        if not 40 <= self.f0_hz <= 600:
            raise ValueError(f"f0_hz must be in [40, 600], got {self.f0_hz}")
        if self.rate <= 0 or self.pause_scale < 0 or self.formant_scale <= 0:
            raise ValueError(
                f"need rate > 0, pause_scale >= 0, formant_scale > 0, got "
                f"{self.rate}, {self.pause_scale}, {self.formant_scale}"
            )
        if not 0.2 <= self.open_quotient <= 0.95 or max(abs(self.tilt), abs(self.channel_tilt)) >= 1:
            raise ValueError(
                f"need open_quotient in [0.2, 0.95], |tilt| < 1, |channel_tilt| < 1, got "
                f"{self.open_quotient}, {self.tilt}, {self.channel_tilt}"
            )


# A Rosenberg (1971) flow pulse over the open phase of a cycle (0-1); the glottis is shut after it.
_OPEN_PHASE = np.linspace(0.0, 1.0, 2049)
_OPENING = 0.7  # speed quotient ~2.3: slow opening, quick closure
_OPEN_FLOW = np.where(_OPEN_PHASE < _OPENING, 0.5 - 0.5 * np.cos(np.pi * _OPEN_PHASE / _OPENING),
                      np.cos(0.5 * np.pi * (_OPEN_PHASE - _OPENING) / (1 - _OPENING)))


class Syllable(NamedTuple):
    onset: str  # a key of CONSONANTS or ""
    vowel: str  # a key of VOWELS
    stressed: bool
    word_final: bool
    pause_after: bool  # a "," follows


def parse_text(text: str) -> list[Syllable]:
    """The syllables of a pseudo-sentence ("ka-BI-to se-MU, la-NO-pi")."""
    phrases = [phrase.split() for phrase in text.split(",")]
    syllables = []
    for p, words in enumerate(phrases):
        for w, word in enumerate(words):
            parts = word.split("-")
            for s, part in enumerate(parts):
                onset, vowel = part[:-1].lower(), part[-1:].lower()
                if vowel not in VOWELS or (onset and onset not in CONSONANTS) or len(onset) > 1:
                    raise ValueError(
                        f"cannot read syllable {part!r} in {text!r}: a syllable is one optional "
                        f"consonant of {''.join(CONSONANTS)} and a vowel of {''.join(VOWELS)}"
                    )
                last_in_word = s == len(parts) - 1
                syllables.append(Syllable(
                    onset, vowel, stressed=part.isupper(), word_final=last_in_word,
                    pause_after=last_in_word and w == len(words) - 1 and p < len(phrases) - 1,
                ))
    if not syllables:
        raise ValueError(f"no syllables in {text!r}")
    return syllables


class _Segment(NamedTuple):
    frames: int
    formants: np.ndarray  # (4,) Hz targets of F1-F4
    voicing: float  # amplitude of the voiced source
    aspiration: float  # amplitude of aspiration noise (h, stop release)
    noise: tuple[float, float, float] | None  # parallel-branch band (Hz) and gain


class _Plan(NamedTuple):
    segments: list[_Segment]
    accents: list[tuple[float, float]]  # (centre, width) in frames of each pitch accent
    speech: tuple[int, int]  # first and last frame of speech
    last_syllable: int  # frame where the final syllable starts


def _frames(seconds: float) -> int:
    return max(1, round(seconds / HOP_S))


def _plan(syllables: list[Syllable], voice: VoiceParams, rng: np.random.Generator) -> _Plan:
    """Segments (consonant phases, vowels, pauses) with durations, targets and accents."""
    scale = voice.formant_scale
    schwa = SCHWA * scale

    def silence(seconds: float) -> _Segment:
        return _Segment(_frames(seconds), schwa, 0.0, 0.0, None)

    segments = [silence(rng.uniform(0.12, 0.25))]
    accents, frame, last_syllable = [], segments[0].frames, 0
    speech_start = frame

    def add(segment: _Segment) -> None:
        nonlocal frame
        segments.append(segment)
        frame += segment.frames

    for i, syllable in enumerate(syllables):
        final = i == len(syllables) - 1
        if final:
            last_syllable = frame
        stretch = rng.uniform(0.88, 1.12) / voice.rate
        vowel = (SCHWA + voice.articulation * (np.array(VOWELS[syllable.vowel]) - SCHWA)) * scale
        if syllable.onset:
            for segment in _consonant(CONSONANTS[syllable.onset], vowel, stretch, scale):
                add(segment)
        seconds = (0.15 if syllable.stressed else 0.095) * stretch * (1.5 if final else 1.0)
        loud = 10 ** (voice.stress_db / 20) if syllable.stressed else 1.0
        if syllable.stressed:
            accents.append((frame + 0.45 * _frames(seconds), 0.5 * _frames(seconds) + 4))
        add(_Segment(_frames(seconds), vowel, loud, 0.0, None))
        if syllable.pause_after:
            add(silence(0.18 * voice.pause_scale * rng.uniform(0.7, 1.4)))
        elif syllable.word_final and not final and rng.random() < 0.4:
            add(silence(0.03 * voice.pause_scale * rng.uniform(0.5, 1.5)))
    speech_end = frame
    add(silence(rng.uniform(0.12, 0.25)))
    return _Plan(segments, accents, (speech_start, speech_end), last_syllable)


def _consonant(consonant: Consonant, vowel: np.ndarray, stretch: float, scale: float) -> list[_Segment]:
    """The phases of one consonant before `vowel`: closure, burst and aspiration, or a constriction."""
    target = vowel.copy()
    if consonant.locus is not None:
        target[:3] = 0.5 * (np.array(consonant.locus) * scale + vowel[:3])
    voicing = _VOICING[consonant.manner] if consonant.voiced else 0.0
    constriction = _Segment(_frames(consonant.duration_s * stretch), target, voicing,
                            0.5 if consonant.manner == "aspirate" else 0.0,
                            None if consonant.manner == "stop" else consonant.noise)
    if consonant.manner != "stop":
        return [constriction]
    burst = _Segment(_frames(0.01), target, 0.0, 0.0, consonant.noise)
    if consonant.voiced:
        return [constriction, burst]
    return [constriction, burst, _Segment(_frames(0.035 * stretch), vowel, 0.0, 0.6, None)]


def _f0_track(plan: _Plan, n_frames: int, voice: VoiceParams, rng: np.random.Generator) -> np.ndarray:
    """F0 in Hz per frame: declination, pitch accents, a final movement, wander and tremor."""
    frames = np.arange(n_frames, dtype=float)
    start, end = plan.speech
    semitones = -voice.declination_st * np.clip((frames - start) / max(end - start, 1), 0, 1)
    for centre, width in plan.accents:
        semitones += voice.accent_st * np.exp(-0.5 * ((frames - centre) / width) ** 2)
    ramp = np.clip((frames - plan.last_syllable) / max(end - plan.last_syllable, 1), 0, 1)
    semitones += voice.final_st * ramp * ramp * (3 - 2 * ramp)  # smoothstep
    wander = uniform_filter1d(rng.standard_normal(n_frames), 40, mode="nearest")
    semitones += voice.wander_st * wander / (wander.std() + 1e-9)
    semitones += voice.tremor_st * np.sin(2 * np.pi * voice.tremor_hz * frames * HOP_S + rng.uniform(0, 2 * np.pi))
    return voice.f0_hz * 2 ** (semitones / 12)


def _glottal_source(f0: np.ndarray, voice: VoiceParams, rng: np.random.Generator,
                    sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Differentiated Rosenberg flow (samples,) with jitter and shimmer, and the flow itself."""
    cycles = np.cumsum(f0) / sample_rate
    stretch = np.clip(1 + voice.jitter * rng.standard_normal(int(cycles[-1]) + 2), 0.7, 1.3)
    cycles = np.cumsum(f0 / stretch[cycles.astype(int)]) / sample_rate  # each cycle its own length
    index = cycles.astype(int)
    flow = np.interp((cycles - index) / voice.open_quotient, _OPEN_PHASE, _OPEN_FLOW, right=0.0)
    flow *= np.clip(1 + voice.shimmer * rng.standard_normal(index[-1] + 1), 0.3, None)[index]
    return np.diff(flow, prepend=0.0), flow


def _formant_cascade(excitation: np.ndarray, formants: np.ndarray, hop: int, sample_rate: int) -> np.ndarray:
    """Run (samples,) through resonators with frequencies `formants` (8, frames), one set per hop.

    Each resonator has unit gain at 0 Hz (Klatt's A = 1 - B - C) and keeps its two past
    outputs across a change of frequency, as a direct-form filter does, so formants
    glide without clicks. A resonator that would reach 0.45 of the sample rate is left out.
    """
    period = 1.0 / sample_rate
    signal = excitation
    for frequencies, bandwidth in zip(np.round(formants), BANDWIDTHS):  # whole Hz: steady runs share a call
        if frequencies.max() >= 0.45 * sample_rate:
            continue
        c = -np.exp(-2 * np.pi * bandwidth * period)
        b = 2 * np.exp(-np.pi * bandwidth * period) * np.cos(2 * np.pi * frequencies * period)
        edges = np.concatenate([[0], np.flatnonzero(np.diff(frequencies)) + 1, [frequencies.size]]) * hop
        out = np.empty_like(signal)
        y1 = y2 = 0.0
        for start, stop, b_run in zip(edges[:-1], edges[1:], b[edges[:-1] // hop]):
            # lfilter's state for y[n] = A x[n] + B y[n-1] + C y[n-2], from the last two outputs
            out[start:stop], _ = lfilter([1 - b_run - c], [1, -b_run, -c], signal[start:stop],
                                         zi=[b_run * y1 + c * y2, c * y1])
            y1, y2 = out[stop - 1], out[stop - 2]
        signal = out
    return signal


@lru_cache(maxsize=64)
def _band(low: float, high: float, sample_rate: int) -> np.ndarray:
    return butter(2, [low, high], btype="band", fs=sample_rate, output="sos")


def _noise_branch(plan: _Plan, n_samples: int, hop: int, voice: VoiceParams, rng: np.random.Generator,
                  sample_rate: int) -> np.ndarray:
    """Band-passed noise of bursts and fricatives at their places in the utterance."""
    out = np.zeros(n_samples)
    start = 0
    for segment in plan.segments:
        length = segment.frames * hop
        if segment.noise is not None:
            low, high, gain = segment.noise
            high = min(high * voice.formant_scale, 0.45 * sample_rate)
            low = min(low * voice.formant_scale, 0.5 * high)
            noise = sosfilt(_band(low, high, sample_rate), rng.standard_normal(length))
            out[start:start + length] += gain * tukey(length, 0.5) * noise / (noise.std() + 1e-12)
        start += length
    return out


def _tilt(signal: np.ndarray, amount: float, order: int = 1) -> np.ndarray:
    """Tilt a spectrum: amount > 0 low-passes (a pole at `amount`), < 0 pre-emphasises
    (a zero at -amount); `order` repeats the pole or zero, steepening the tilt."""
    b, a = ([1 - amount], [1, -amount]) if amount >= 0 else ([1, amount], [1])
    return lfilter(np.poly1d(b) ** order, np.poly1d(a) ** order, signal)


def _upsample(track: np.ndarray, hop: int) -> np.ndarray:
    """A per-frame track (frames,) linearly interpolated to samples (frames * hop,)."""
    n = track.size * hop
    return np.interp((np.arange(n) + 0.5) / hop - 0.5, np.arange(track.size), track)


def synthesize_utterance(text: str, voice: VoiceParams, rng: np.random.Generator,
                         sample_rate: int = 16000) -> np.ndarray:
    """Speak `text` (see the module docstring) with `voice`: float32 (samples,) at `sample_rate`.

    Speech RMS is REF_DBFS + voice.level_db (peaks never clip); `rng` draws every
    random detail (durations, jitter, noise), so a seeded generator repeats the clip exactly.
    """
    if sample_rate < 8000:
        raise ValueError(f"sample_rate must be >= 8000, got {sample_rate}")
    hop = round(HOP_S * sample_rate)
    plan = _plan(parse_text(text), voice, rng)
    n_frames = sum(segment.frames for segment in plan.segments)
    n_samples = n_frames * hop

    def track(values: list[float], width: int) -> np.ndarray:
        per_frame = np.repeat(values, [segment.frames for segment in plan.segments])
        return _upsample(uniform_filter1d(per_frame, width, mode="nearest"), hop)

    voicing = track([segment.voicing for segment in plan.segments], 3)
    aspiration = track([segment.aspiration for segment in plan.segments], 3)
    formants = np.repeat(np.stack([segment.formants for segment in plan.segments], axis=1),
                         [segment.frames for segment in plan.segments], axis=1)
    formants = uniform_filter1d(formants, 5, axis=1, mode="nearest")  # 25 ms coarticulation glides
    high = np.broadcast_to(HIGH_FORMANTS[:, None] * voice.formant_scale, (HIGH_FORMANTS.size, n_frames))
    formants = np.concatenate([formants, high])
    # loudness falls 3 dB over the utterance as subglottal pressure drops, like F0 declination
    intensity = 10 ** (-3.0 / 20 * np.clip((np.arange(n_samples) / hop - plan.speech[0])
                                           / (plan.speech[1] - plan.speech[0]), 0, 1))

    pulses, flow = _glottal_source(_upsample(_f0_track(plan, n_frames, voice, rng), hop), voice, rng, sample_rate)
    voiced = _tilt(pulses * voicing, voice.tilt, order=2)
    voiced /= np.sqrt(np.mean(voiced[voicing > 0.5] ** 2)) + 1e-12
    breath = voice.breathiness * voicing * (0.3 + flow / (flow.max() + 1e-12)) + aspiration
    excitation = (voiced + breath * rng.standard_normal(n_samples)) * intensity
    tract = _formant_cascade(excitation, formants, hop, sample_rate)
    tract /= np.sqrt(np.mean(tract[voicing > 0.5] ** 2)) + 1e-12
    speech = tract + _noise_branch(plan, n_samples, hop, voice, rng, sample_rate) * intensity

    speech = _tilt(speech, voice.channel_tilt)
    active = slice(plan.speech[0] * hop, plan.speech[1] * hop)
    speech *= 10 ** ((REF_DBFS + voice.level_db) / 20) / (np.sqrt(np.mean(speech[active] ** 2)) + 1e-12)
    background = lfilter([0.3], [1, -0.7], rng.standard_normal(n_samples))  # gently low-passed hiss
    speech += background * 10 ** (voice.noise_dbfs / 20) / background.std()
    peak = np.abs(speech).max()
    if peak > 0.99:
        speech *= 0.99 / peak
    return speech.astype(np.float32)
