"""Small data said out loud: the expected width of the verdict's interval on a held-out part,
and the threshold above which a part is too small to decide."""

from __future__ import annotations

import numpy as np
import pytest

from moola.verdict import BlockBootstrap
from moola.verdict.power import (
    MAX_HALF_WIDTH,
    SMALL_DATA,
    expected_half_widths,
    small_part_warning,
    too_small,
)
from moola.verdict.rules import LEARNED_MARGIN


def iid_exponential(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).exponential(1.0, size=n)


@pytest.mark.parametrize("n", [100, 400, 1600])
def test_the_half_width_of_independent_losses_is_1_96_cv_over_root_n(n: int) -> None:
    """Exp(1) losses: sd / mean = 1, so the 95% interval of the mean / the mean is about
    ±1.96 / √n (0.196, 0.098, 0.049); the moving blocks change nothing for independent
    windows, up to the bootstrap's own noise."""
    boot = BlockBootstrap(np.arange(n), overlap_run=1, seed=0)
    (h,) = expected_half_widths({"head": iid_exponential(n)}, boot).values()
    assert h == pytest.approx(1.96 / np.sqrt(n), rel=0.2)


def test_windows_that_share_bars_widen_the_interval() -> None:
    """The same 400 values repeated in runs of 8 (8 neighbours share bars): 50 independent
    values, so the interval is about as wide as for 50 windows (±0.28), not 400 (±0.10)."""
    values = np.repeat(iid_exponential(50), 8)
    boot = BlockBootstrap(np.arange(400), overlap_run=8, seed=0)
    (h,) = expected_half_widths({"head": values}, boot).values()
    assert h == pytest.approx(1.96 / np.sqrt(50), rel=0.25)


def test_the_threshold_is_three_times_the_loss_margin() -> None:
    assert MAX_HALF_WIDTH == pytest.approx(3 * LEARNED_MARGIN) == pytest.approx(0.15)


def test_a_part_is_too_small_when_a_head_is_wider_than_the_threshold() -> None:
    assert small_part_warning("validation set", 400, {"a": 0.10, "b": 0.15}, advice="x") is None
    warning = small_part_warning(
        "validation set", 31, {"a": 0.10, "b": 0.40}, advice="use more data"
    )
    assert warning is not None and warning["kind"] == SMALL_DATA
    text = warning["text"]
    assert "the validation set has 31 windows" in text and "b ±40%" in text
    assert "a ±" not in text and text.endswith("use more data")


def test_a_head_whose_prior_loss_is_zero_cannot_be_decided() -> None:
    boot = BlockBootstrap(np.arange(20), overlap_run=1, seed=0)
    widths = expected_half_widths({"flat": np.zeros(20)}, boot)
    assert widths == {"flat": float("inf")}


def test_a_head_exactly_at_the_threshold_can_still_be_decided() -> None:
    assert too_small({"a": MAX_HALF_WIDTH, "b": MAX_HALF_WIDTH + 1e-9}) == {
        "b": MAX_HALF_WIDTH + 1e-9
    }
    assert too_small({"a": 0.2}, limit=0.25) == {} and too_small({"a": 0.3}, limit=0.25)


def test_the_warning_lists_every_head_too_wide() -> None:
    warning = small_part_warning("test block", 20, {"a": 0.2, "b": 0.4, "c": 0.1}, advice="x")
    assert (
        warning is not None and "about a ±20%, b ±40% of the prior's loss wide" in warning["text"]
    )


def test_every_head_gets_its_width_whatever_its_mean_loss() -> None:
    """A zero-loss head is undecidable (inf) and the heads after it are still measured; a
    mean loss below 1 is a loss like any other; one window gives an interval of width 0."""
    rng = np.random.default_rng(3)
    small = 0.5 + 0.1 * rng.random(40)  # mean about 0.55
    boot = BlockBootstrap(np.arange(40), overlap_run=1, seed=0)
    widths = expected_half_widths({"flat": np.zeros(40), "small": small}, boot)
    assert widths["flat"] == float("inf") and 0 < widths["small"] < 0.1
    one = expected_half_widths({"one": np.array([0.7])}, BlockBootstrap(np.arange(1)))
    assert one == {"one": 0.0}
    as32 = expected_half_widths({"small": small.astype(np.float32)}, boot)
    assert as32 == expected_half_widths({"small": small.astype(np.float32).astype(float)}, boot)
