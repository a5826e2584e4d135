"""Claim 3, clusters: how often a cnn3d run's embedding neighbours share the emotion, against speaker and corpus."""

from __future__ import annotations

from pathlib import Path

from ser_core.claims.card import Card
from ser_core.claims.evidence import finished, model_name, newest_manifest
from ser_core.claims.rules import UNSETTLED, cluster_verdict
from ser_core.claims.settle import train_settle
from ser_core.clusters import above_chance, agreement_sentence, run_clusters
from ser_core.training.runs import RunFolder, read_json


def clusters_card(runs: list[RunFolder], runs_root: Path) -> Card:
    card = Card("clusters", "3. The features cluster by emotion",
                "projected with t-SNE, the 3D CNN's learned features show distinct clusters of emotions.",
                UNSETTLED, "")
    cnn3d = [run for run in finished(runs) if model_name(run.config()) == "cnn3d"]
    measured = next(((run, scores) for run in cnn3d if (scores := _readable_clusters(run))), None)
    if measured is None:
        card.reason = "No cnn3d run with embeddings (a final model) yet."
        like = cnn3d[0] if cnn3d else None
        name = f"{like.path.name}-final" if like else "claims-cnn3d"
        skipped = like is not None and like.config().get("train", {}).get("final_model") is False
        card.settle.append(train_settle("a cnn3d run with its final model, whose embeddings are measured.",
                                         runs_root, name, "cnn3d", like, newest_manifest(runs),
                                         extra=("--set", "train.final_model=true") if skipped else ()))
        return card
    run, scores = measured
    card.verdict, card.reason = cluster_verdict(scores)
    card.evidence.append(f"{run.path.name}, in its embedding space ({scores['dims']} dimensions, "
                         f"{scores['clips']:,} clips): {agreement_sentence(scores)}")
    for path in sorted((run.path / "projections").glob("*.clusters.json")):
        on_map = read_json(path)
        card.evidence.append(f"On its {on_map['space']} map: {agreement_sentence(on_map)}")
    if "gender" in scores["by"]:
        card.evidence.append(f"Sex ({above_chance(scores['by']['gender']):.2f} above chance) is shown, not counted "
                             "against emotion: voices differ by sex whatever they express.")
    card.evidence.append("The embeddings are the final model's, trained on every clip: the scores say what it "
                         "learned, not how it generalises to new speakers.")
    return card


def _readable_clusters(run: RunFolder) -> dict | None:
    """run_clusters, or None for a run whose embeddings cannot be read (a copy cut short): the card skips it."""
    try:
        return run_clusters(run)
    except (OSError, ValueError, KeyError):
        return None
