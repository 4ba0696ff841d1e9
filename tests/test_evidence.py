"""The evidence standard's verdict rule (alexnet_lib.experiments.evidence), on hand-made numbers."""

from __future__ import annotations

import pytest

from alexnet_lib.experiments.evidence import MIN_SEEDS, paired_verdict, reference_learns


def test_every_seed_in_the_papers_direction_and_beyond_two_standard_errors() -> None:
    v = paired_verdict([0.30, 0.31, 0.29], [0.35, 0.37, 0.33])  # errors: the paper's arm lower
    assert v.status == "reproduced"
    assert v.differences == pytest.approx((0.05, 0.06, 0.04)) and v.mean == pytest.approx(0.05)
    assert v.standard_error == pytest.approx(0.01 / 3**0.5)


def test_the_mirror_image_contradicts_and_higher_is_better_flips_the_sign() -> None:
    assert paired_verdict([0.35, 0.37, 0.33], [0.30, 0.31, 0.29]).status == "contradicted"
    accuracies = paired_verdict([0.70, 0.69, 0.71], [0.65, 0.63, 0.67], lower_is_better=False)
    assert accuracies.status == "reproduced"


def test_a_seed_the_other_way_or_a_small_mean_is_inconclusive() -> None:
    assert paired_verdict([0.30, 0.31, 0.36], [0.35, 0.37, 0.33]).status == "inconclusive"
    # all three in the direction, but the spread is large beside the mean
    wide = paired_verdict([0.30, 0.30, 0.30], [0.301, 0.30001, 0.40])
    assert all(d > 0 for d in wide.differences) and wide.status == "inconclusive"


def test_a_reference_arm_near_chance_is_no_evidence() -> None:
    assert reference_learns([0.30, 0.44], chance_error=0.9)
    assert not reference_learns([0.30, 0.46], chance_error=0.9)
    v = paired_verdict([0.80, 0.81, 0.79], [0.85, 0.87, 0.83], baseline_error=[0.85, 0.87, 0.83],
                       chance_error=0.9)
    assert v.status == "inconclusive" and "did not learn" in v.reason


def test_too_few_seeds_or_unpaired_arms_are_refused() -> None:
    with pytest.raises(ValueError, match=f"at least {MIN_SEEDS}"):
        paired_verdict([0.3, 0.3], [0.4, 0.4])
    with pytest.raises(ValueError, match="paired by seed"):
        paired_verdict([0.3, 0.3, 0.3], [0.4, 0.4])
    with pytest.raises(ValueError, match="together"):
        paired_verdict([0.3] * 3, [0.4] * 3, baseline_error=[0.3] * 3)
