"""Pack the development corpora's paper-preset log-mels into one file each (for a GPU server).

    python bench/pack.py carry/ [LEVEL]    # -> carry/ravdess-paper.npz, carry/savee-paper.npz (~46 MB)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ser_core.corpora import scan  # noqa: E402
from ser_core.features.store import featurize_manifest  # noqa: E402
from ser_core.training.dataset import pack  # noqa: E402
from ser_core.training.presets import feature_preset  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpora"

if __name__ == "__main__":
    from accuracy import pack_name

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "carry")
    level = sys.argv[2] if len(sys.argv) > 2 else "rms"
    features = feature_preset("paper")
    features = features.replace(audio=features.audio.replace(level=level))
    out.mkdir(parents=True, exist_ok=True)
    for corpus in ("ravdess", "savee"):
        feature_set = featurize_manifest(scan(corpus, SHARED / corpus).manifest, features)
        print(corpus, feature_set.describe())
        print("wrote", pack(feature_set, out / pack_name(corpus, level)))
