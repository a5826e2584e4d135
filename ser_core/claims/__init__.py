"""The paper's three claims, re-tested on the user's own runs: one card each, with a verdict by a declared rule.

    for card in claim_cards(runs_dir(), sweeps_dir()):
        print(card.text())

1. Kernels: shallow temporal, moderately deep spectral 3D kernels work best (from sweep folders).
2. Models: the 3D CNN learns spectro-temporal features better than a CNN-LSTM (a paired comparison
   of a cnn3d and a cnn_lstm run on the same folds; cnn2d and the functionals beside it).
3. Clusters: the learned features show distinct emotion clusters (ser_core.clusters).

A verdict is "holds", "does not hold" or "not enough evidence"; RULES says how each is
reached, and every card names the run that would settle or sharpen it as an exact `ser`
command. Nothing here trains or imports torch: it reads run folders.

rules (the verdicts, pure), card (Card, Settle), evidence (reading the runs), settle (the
`ser` command of a settling run), and one module per claim: kernels, models, clusters.
"""

from __future__ import annotations

from pathlib import Path

from ser_core.claims.card import Card, Settle
from ser_core.claims.clusters import clusters_card
from ser_core.claims.kernels import kernels_card, size_groups
from ser_core.claims.models import models_card
from ser_core.claims.rules import (FAILS, HOLDS, RULES, UNSETTLED, cluster_verdict, difference_interval, kernel_verdict,
                                   paired_verdict)
from ser_core.training.runs import list_runs

__all__ = ["FAILS", "HOLDS", "RULES", "UNSETTLED", "Card", "Settle", "claim_cards", "cluster_verdict",
           "difference_interval", "kernel_verdict", "paired_verdict", "size_groups"]


def claim_cards(runs_root: str | Path, sweeps_root: str | Path) -> list[Card]:
    """The three claims' cards from the runs under `runs_root` and the sweeps under `sweeps_root`."""
    runs_root, sweeps_root = Path(runs_root), Path(sweeps_root)
    runs = list_runs(runs_root)
    return [kernels_card(sweeps_root, runs), models_card(runs, runs_root), clusters_card(runs, runs_root)]
