"""The verdict rules: numbers in, verdict out (pure). RULES states each in words, as the cards show it."""

from __future__ import annotations

import numpy as np
from scipy import stats

from ser_core.clusters import above_chance
from ser_core.training.compare import ALPHA

HOLDS, FAILS, UNSETTLED = "holds", "does not hold", "not enough evidence"
MIN_ADVANTAGE = 0.01  # UA: a 95% interval that stays below one point of UA rules an advantage out
SIZE_TOLERANCE = 0.10  # sweep cells within 10% of each other's parameter count count as equal size
DISTINCT = 0.25  # emotion agreement above chance (0 = chance, 1 = perfect) that counts as distinct clusters
BARELY = 0.10  # below this, neighbours share the emotion barely more than chance
RIVALS = ("speaker", "corpus")  # what a map may cluster by instead of emotion (sex is shown, not a rival)

RULES = {
    "kernels": (
        "Cells of a sweep within 10% of each other's parameter count form a size group; a cell is on the "
        "paper's side when its k_seg is at or below the grid's median and its k_mel at or above it. Each size "
        "group with cells on both sides gives one paired test over speakers: its best cell on the paper's "
        "side against its best cell off it. With m tests, each counts at p < 0.05 / m (Bonferroni). Holds: "
        "a test favours the paper's side and none opposes it. Does not hold: a test favours the other side, "
        "or its interval at that level lies below +0.01 UA (no advantage for the paper's side), and none favours it. Otherwise not enough evidence: "
        "with no size group, UA may simply follow the parameter count."
    ),
    "models": (
        "A paired test over speakers (sign flips of the per-speaker UA differences, ser compare) of a cnn3d "
        "and a cnn_lstm run on the same folds. Holds: cnn3d better with p < 0.05. Does not hold: cnn_lstm "
        "better with p < 0.05, or the 95% interval of the mean per-speaker difference lies below +0.01 UA "
        "(no advantage worth the name). Otherwise not enough evidence."
    ),
    "clusters": (
        "From the 10 nearest neighbours of each clip in the cnn3d run's embedding space: agreement above "
        "chance, (agreement - chance) / (1 - chance), for emotion, speaker and corpus. Holds: emotion's is at "
        "least 0.25 and above speaker's and corpus's. Does not hold: emotion's is below 0.10, or speaker's or "
        "corpus's is at least as high (the space groups by who speaks or where the clip came from). Otherwise "
        "not enough evidence."
    ),
}


def difference_interval(differences: list[float] | np.ndarray, alpha: float = ALPHA) -> tuple[float, float]:
    """The (1 - alpha) t-interval of the mean of per-speaker differences (95% at alpha 0.05)."""
    d = np.asarray(differences, dtype=float)
    half = stats.t.ppf(1 - alpha / 2, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return float(d.mean() - half), float(d.mean() + half)


def paired_verdict(comparison: dict, alpha: float = ALPHA) -> tuple[str, str]:
    """Whether "A beats B" holds by compare_runs' paired test over speakers (RULES["models"])."""
    a, b, p = comparison["a"], comparison["b"], comparison["p_speakers"]
    differences = [row["difference"] for row in comparison["per_speaker"].values()]
    if len(differences) < 2 or not np.isfinite(p):
        return UNSETTLED, f"{a} and {b} were tested on one speaker: no paired test is possible."
    mean = float(np.mean(differences))
    low, high = difference_interval(differences, alpha)
    spread = f"mean per-speaker difference {mean:+.3f} UA over {len(differences)} speakers, {1 - alpha:.1%} interval " \
             f"{low:+.3f} to {high:+.3f}, p = {p:.2g}"
    if p < alpha and mean > 0:
        return HOLDS, f"{a} beats {b}: {spread} < {alpha:.2g}."
    if p < alpha and mean < 0:
        return FAILS, f"{b} beats {a}: {spread} < {alpha:.2g}."
    if high < MIN_ADVANTAGE:
        return FAILS, f"{a} is no better than {b}: {spread}; the interval rules out an advantage of " \
                      f"{MIN_ADVANTAGE} UA or more."
    return UNSETTLED, f"{a} against {b} is within the noise: {spread}."


def kernel_verdict(comparisons: list[dict]) -> tuple[str, str]:
    """The kernel claim from its size-matched tests, each "paper's side (A) beats the other (B)" (RULES["kernels"])."""
    if not comparisons:
        return UNSETTLED, ("No two cells of equal size (within 10%) lie on both sides of the claim: with fixed "
                           "channels a bigger kernel is a bigger model, so the grid cannot tell kernel shape "
                           "from model size.")
    alpha = ALPHA / len(comparisons)
    verdicts = [paired_verdict(c, alpha) for c in comparisons]
    held = [reason for verdict, reason in verdicts if verdict == HOLDS]
    failed = [reason for verdict, reason in verdicts if verdict == FAILS]
    tests = f"{len(comparisons)} size-matched test(s), each at p < {alpha:.2g}"
    if held and failed:
        return UNSETTLED, f"The size-matched tests disagree ({tests}): {held[0]} But {failed[0]}"
    if held:
        return HOLDS, f"{tests}: {held[0]}"
    if failed:
        return FAILS, f"{tests}: {failed[0]}"
    return UNSETTLED, f"{tests}; none is decisive: {verdicts[0][1]}"


def cluster_verdict(clusters: dict) -> tuple[str, str]:
    """Whether the space shows distinct emotion clusters (RULES["clusters"])."""
    by = clusters.get("by", {})
    if "emotion" not in by:
        return UNSETTLED, "Emotion agreement could not be measured (too few labelled clips)."
    emotion = above_chance(by["emotion"])
    rivals = {g: above_chance(by[g]) for g in RIVALS if g in by}
    words = f"emotion {emotion:.2f}" + "".join(f", {g} {v:.2f}" for g, v in rivals.items())
    top = max(rivals, key=rivals.get) if rivals else None
    if top is not None and rivals[top] >= emotion:
        return FAILS, f"Neighbours share the {top} at least as much as the emotion, above chance ({words})."
    if emotion < BARELY:
        return FAILS, f"Neighbours share the emotion barely more often than chance ({words})."
    if emotion >= DISTINCT:
        return HOLDS, f"Neighbours share the emotion well above chance, and more than anything else ({words})."
    return UNSETTLED, f"Emotion clusters are there but weak ({words}): between {BARELY} and {DISTINCT}."
