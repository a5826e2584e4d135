"""Features: pure functions of arrays, and a store that caches them per audio content.

  logmel     waveform (samples,) -> log-mel (frames, n_mels), in dB
  volume     log-mel -> spectro-temporal volumes (1, S, L, F): pad/crop policy, sliding windows
  normalize  per-utterance, per-speaker or global mean/variance normalisation (`Stats`)
  store      manifest -> `FeatureSet`, computed in parallel and cached on disk

File I/O lives in `ser_core.audio` and the store; the functions never take a path.
"""

from ser_core.features.logmel import log_mel
from ser_core.features.normalize import Stats, fit_stats, normalize_mels, speaker_stats
from ser_core.features.store import FeatureSet, FeatureStore, featurize_manifest
from ser_core.features.volume import sliding_volumes, to_volume

__all__ = [
    "FeatureSet",
    "FeatureStore",
    "Stats",
    "featurize_manifest",
    "fit_stats",
    "log_mel",
    "normalize_mels",
    "sliding_volumes",
    "speaker_stats",
    "to_volume",
]
