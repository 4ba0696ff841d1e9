"""The book's evidence standard: when a measurement counts for, or against, a claim of the paper.

Defined in the book's introduction ("What counts as evidence"); the experiments' records and the
scorecard apply it. The rules are code, fixed before any run is made, so that no verdict can be
chosen after seeing which way the numbers went:

* **The reference arm learns.** The arm the comparison is anchored on ends, on every seed, with an
  error at most half of chance on the split it is measured on. A result near chance shows
  nothing: the experiment has to be made bigger or longer, not explained.
* **Several seeds, paired.** At least :data:`MIN_SEEDS` seeds; a seed changes the initial weights,
  the order of the data and the augmentation draws, and both arms of a comparison share it, so
  the comparison is made seed by seed.
* **The verdict.** With ``d_s`` the paired difference on seed ``s``, signed so that a positive
  ``d_s`` means the arm the paper prefers did better: *reproduced* when every ``d_s > 0`` and their
  mean is more than :data:`Z` standard errors (over seeds) above zero; *contradicted* when every
  ``d_s < 0`` and the mean is more than :data:`Z` standard errors below zero; *inconclusive*
  otherwise. Claims about ImageNet's own numbers are *needs ImageNet*.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["STATUSES", "MIN_SEEDS", "Z", "Verdict", "paired_verdict", "reference_learns"]

STATUSES = ("reproduced", "contradicted", "inconclusive", "needs ImageNet", "not yet measured")
MIN_SEEDS = 3
Z = 2.0  # standard errors over seeds that the mean paired difference must clear


@dataclass(frozen=True)
class Verdict:
    """A claim's status under the standard, with the numbers that decided it."""

    status: str
    differences: tuple[float, ...]  # per seed, positive = the paper's arm better
    mean: float
    standard_error: float
    reason: str


def reference_learns(baseline_error: Sequence[float], chance_error: float) -> bool:
    """True when every seed's final error of the reference arm is at most half of chance."""
    return bool(baseline_error) and max(baseline_error) <= chance_error / 2


def paired_verdict(paper_arm: Sequence[float], other_arm: Sequence[float], *,
                   lower_is_better: bool = True, baseline_error: Sequence[float] | None = None,
                   chance_error: float | None = None, min_seeds: int = MIN_SEEDS) -> Verdict:
    """The verdict on "the paper's choice beats the other", from per-seed values of one metric.

    Args:
        paper_arm: the metric of the arm the paper says is better, one value per seed.
        other_arm: the arm it is compared with, the same seeds in the same order.
        lower_is_better: True for errors and losses, False for accuracies or speed-ups.
        baseline_error: the reference arm's final error per seed, checked against
            ``chance_error`` (both or neither).
        min_seeds: fewer seeds than this is not evidence (a ``ValueError``).
    """
    if len(paper_arm) != len(other_arm):
        raise ValueError(f"the arms are paired by seed: {len(paper_arm)} values against "
                         f"{len(other_arm)}")
    if len(paper_arm) < min_seeds:
        raise ValueError(f"{len(paper_arm)} seeds; the evidence standard needs at least {min_seeds} "
                         "(run the experiment with --seeds 0,1,2)")
    if (baseline_error is None) != (chance_error is None):
        raise ValueError("give baseline_error and chance_error together")
    sign = 1.0 if lower_is_better else -1.0
    d = tuple(sign * (o - p) for p, o in zip(paper_arm, other_arm, strict=True))
    mean = statistics.fmean(d)
    se = statistics.stdev(d) / math.sqrt(len(d))
    if baseline_error is not None and not reference_learns(baseline_error, chance_error):
        return Verdict("inconclusive", d, mean, se,
                       f"the reference arm did not learn: final error up to {max(baseline_error):.1%}"
                       f", more than half of chance ({chance_error:.1%})")
    if all(x > 0 for x in d) and mean > Z * se:
        return Verdict("reproduced", d, mean, se,
                       f"every seed in the paper's direction, mean {mean:+.4g} > {Z:g} x {se:.2g}")
    if all(x < 0 for x in d) and mean < -Z * se:
        return Verdict("contradicted", d, mean, se,
                       f"every seed against the paper, mean {mean:+.4g} < -{Z:g} x {se:.2g}")
    return Verdict("inconclusive", d, mean, se,
                   f"seeds disagree or the mean {mean:+.4g} is within {Z:g} standard errors ({se:.2g})")
