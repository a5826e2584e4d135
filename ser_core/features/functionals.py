"""openSMILE functionals of a clean waveform: the field's hand-crafted reference features.

    vector = functionals(wave, FunctionalsFeatures(feature_set="egemaps"))   # (1, 88) float32

audEERING's `opensmile` package (its wheel ships the extractor) is an optional
dependency, imported on first use; one extractor per process and feature set.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ser_core.config import FunctionalsFeatures

OPENSMILE_SETS = {"egemaps": "eGeMAPSv02", "compare": "ComParE_2016"}  # our names -> openSMILE's


@lru_cache(maxsize=None)
def _smile(feature_set: str):
    try:
        import opensmile
    except ImportError:
        raise ImportError("the functionals model needs openSMILE: pip install opensmile "
                          "(or pip install 'ser-explorer[functionals]')") from None
    return opensmile.Smile(feature_set=getattr(opensmile.FeatureSet, OPENSMILE_SETS[feature_set]),
                           feature_level=opensmile.FeatureLevel.Functionals)


def functionals(wave: np.ndarray, config: FunctionalsFeatures) -> np.ndarray:
    """(samples,) float32 at config.audio.sample_rate -> (1, D) float32 functionals of the whole clip."""
    frame = _smile(config.feature_set).process_signal(np.asarray(wave, dtype=np.float32), config.audio.sample_rate)
    return np.nan_to_num(frame.to_numpy(dtype=np.float32)[:1])  # NaN where a descriptor is undefined (no voicing)

