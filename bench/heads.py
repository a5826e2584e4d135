"""A run trained with `train.head=linear`: its linear head against the network's own classifier, paired.

    python bench/heads.py runs/bench-accuracy/ravdess-cnn3d

Every fold of such a run keeps both heads' test probabilities (probs and network_probs), so
one training gives both scores on the same networks: pooled UA, UA per fold, and the paired
tests of `ser compare` (sign flips over speakers, McNemar over clips).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ser_core.training.compare import mcnemar_p, sign_flip_p  # noqa: E402
from ser_core.training.metrics import grouped_scores, scores  # noqa: E402
from ser_core.training.runs import RunFolder  # noqa: E402


def head_tables(run: RunFolder) -> tuple[pd.DataFrame, list[str]]:
    """One row per test clip: fold, speaker, label, and each head's predicted class."""
    labels = run.config()["labels"]
    truth = pd.read_csv(run.predictions_path).set_index("path")
    rows = []
    for name, record in sorted(run.finished_folds().items()):
        if "network_probs" not in record:
            raise SystemExit(f"{run.path}: fold {name} has no network_probs (trained without train.head=linear)")
        for path, linear, network in zip(record["paths"], record["probs"], record["network_probs"]):
            rows.append({"fold": name, "path": path, "speaker": truth.loc[path, "speaker"],
                         "label": int(truth.loc[path, "label"]),
                         "linear": int(np.argmax(linear)), "network": int(np.argmax(network))})
    return pd.DataFrame(rows), labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run")
    args = parser.parse_args()
    table, labels = head_tables(RunFolder(args.run))
    k = len(labels)
    for head in ("network", "linear"):
        pooled = scores(table["label"].to_numpy(), table[head].to_numpy(), k)
        folds = [scores(g["label"].to_numpy(), g[head].to_numpy(), k)["ua"] for _, g in table.groupby("fold")]
        print(f"{head:8s} UA {pooled['ua']:.3f} (+-{np.std(folds):.3f} over folds)  WA {pooled['wa']:.3f}  "
              f"folds {', '.join(f'{u:.3f}' for u in folds)}")
    per_speaker = {head: grouped_scores(table.assign(predicted=table[head]), "speaker", k) for head in ("linear", "network")}
    speakers = sorted(per_speaker["linear"])
    diff = np.array([per_speaker["linear"][s]["ua"] - per_speaker["network"][s]["ua"] for s in speakers])
    right = {head: (table[head] == table["label"]).to_numpy() for head in ("linear", "network")}
    only_linear, only_network, p_clips = mcnemar_p(right["linear"], right["network"])
    print(f"linear - network: {diff.mean():+.3f} UA over {len(speakers)} speakers, p = {sign_flip_p(diff):.2g} "
          f"(higher on {(diff > 0).sum()}, lower on {(diff < 0).sum()}); McNemar over clips "
          f"{only_linear} against {only_network}, p = {p_clips:.2g}")


if __name__ == "__main__":
    main()
