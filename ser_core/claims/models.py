"""Claim 2, models: the paired comparison of a cnn3d and a cnn_lstm run on the same folds."""

from __future__ import annotations

from pathlib import Path

from ser_core.claims.card import Card
from ser_core.claims.evidence import finished, model_name, newest_manifest, paired_with, seeds_of
from ser_core.claims.rules import UNSETTLED, paired_verdict
from ser_core.claims.settle import ser_options, train_settle
from ser_core.training.runs import RunFolder

BASELINES = ("cnn2d", "functionals")  # also compared with cnn3d when such runs exist on the same folds


def models_card(runs: list[RunFolder], runs_root: Path) -> Card:
    card = Card("models", "2. The 3D CNN beats the CNN-LSTM",
                "3D convolutions over segments, frames and mel bins learn spectro-temporal features better "
                "than a 2D CNN per segment followed by an LSTM over segments.", UNSETTLED, "")
    by_model: dict[str, list[RunFolder]] = {}
    for run in finished(runs):
        by_model.setdefault(model_name(run.config()), []).append(run)
    cnn3d, lstm = by_model.get("cnn3d", []), by_model.get("cnn_lstm", [])
    seeds_flag = ("--seeds", "3") if "--seeds" in ser_options("train") else ()
    pair = next(((run, found) for run in cnn3d if (found := paired_with(run, lstm))), None)
    fallback = newest_manifest(runs)
    if pair is None:
        card.reason = "No cnn3d and cnn_lstm runs on the same folds yet."
        if cnn3d:
            like = cnn3d[0]
            card.settle.append(train_settle(f"a cnn_lstm run on the folds of {like.path.name}.", runs_root,
                                             f"{like.path.name}-cnn_lstm", "cnn_lstm", like, fallback))
        elif lstm:
            like = lstm[0]
            card.settle.append(train_settle(f"a cnn3d run on the folds of {like.path.name}.", runs_root,
                                             f"{like.path.name}-cnn3d", "cnn3d", like, fallback))
        else:
            for model in ("cnn3d", "cnn_lstm"):
                card.settle.append(train_settle(f"a {model} run (the two share their folds: same manifest, "
                                                 "split and seed).", runs_root, f"claims-{model}", model, None,
                                                 fallback))
        return card
    run, (other, comparison) = pair
    card.verdict, card.reason = paired_verdict(comparison)
    card.evidence.append(f"{comparison['summary']} (UA {comparison['ua_a']:.3f} against {comparison['ua_b']:.3f}, "
                         f"{comparison['clips']} clips; McNemar p = {comparison['mcnemar']['p']:.2g}).")
    for baseline in BASELINES:
        found = paired_with(run, by_model.get(baseline, []))
        if found:
            card.evidence.append(f"Beside it: {found[1]['summary']}.")
    for model, like in (("cnn3d", run), ("cnn_lstm", other)):
        spread = (like.results() or {}).get("seeds")
        if spread:
            card.evidence.append(f"{model} over {spread['n']} seeds: UA {spread['ua_mean']:.3f} "
                                 f"± {spread['ua_std']:.3f} (each seed's pooled UA); the test pairs their "
                                 "averaged probabilities.")
    single = [(model, like) for model, like in (("cnn3d", run), ("cnn_lstm", other)) if seeds_of(like) == 1]
    if single:
        card.evidence.append("One seed only for " + " and ".join(m for m, _ in single)
                             + ": the paired test covers the speakers, not the training noise.")
    if card.verdict == UNSETTLED and seeds_flag:
        for model, like in single:
            card.settle.append(train_settle(f"{model} again over 3 seeds, on the same folds.", runs_root,
                                             f"{like.path.name}-seeds", model, like, fallback, extra=seeds_flag))
        if not single:
            card.evidence.append("Both runs average several seeds: what is left is the spread between speakers, "
                                 "which more speakers (a larger corpus, or several aggregated) would narrow.")
    return card
