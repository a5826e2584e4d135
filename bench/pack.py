"""Pack the development corpora's paper-recipe log-mels into one file each (for a GPU server).

    python bench/pack.py carry/ [LEVEL]    # -> carry/ravdess-paper.npz, carry/savee-paper.npz (~46 MB)

A LEVEL other than rms (features.audio.level) goes into the tag: carry/ravdess-paper-level-none.npz,
which bench/accuracy.py reads with --pack-tag paper-level-none --set features.audio.level=none.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ser_core.config import LEVELS  # noqa: E402
from ser_core.corpora import scan  # noqa: E402
from ser_core.features.store import featurize_manifest  # noqa: E402
from ser_core.paths import development_corpora  # noqa: E402
from ser_core.recipes import resolve  # noqa: E402
from ser_core.training.dataset import pack  # noqa: E402

SHARED = development_corpora()
RECIPE = "paper"

if __name__ == "__main__":
    from accuracy import pack_name

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", nargs="?", default="carry", help="folder for the packs")
    parser.add_argument("level", nargs="?", default="rms", choices=LEVELS, help="audio level normalisation")
    args = parser.parse_args()
    features = resolve(RECIPE, {"features.audio.level": args.level}).features
    tag = RECIPE if args.level == "rms" else f"{RECIPE}-level-{args.level}"  # rms keeps the packs' old name
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for corpus in ("ravdess", "savee"):
        feature_set = featurize_manifest(scan(corpus, SHARED / corpus).manifest, features)
        print(corpus, feature_set.describe())
        print("wrote", pack(feature_set, out / pack_name(corpus, tag)))
