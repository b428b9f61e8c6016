"""The masked objective's masks: the original's 15 % of bars, at random or in 10-bar patches,
and a pure function of (seed, step, window), so resumed and data-parallel runs hide the
same bars."""

from __future__ import annotations

import numpy as np
import pytest

from moola.errors import ConfigError
from moola.train.objectives.masking import VALIDATION, MaskRule, window_masks

K = 105
STARTS = np.arange(0, 4000, 7, dtype=np.int64)


def kinds(masks: np.ndarray) -> np.ndarray:
    """True where a window's hidden bars form runs of 10 (patches), False for random bars."""
    runs = []
    for row in masks:
        edges = np.flatnonzero(np.diff(np.r_[0, row.astype(int), 0]))
        lengths = edges[1::2] - edges[::2]
        runs.append(bool((lengths >= 10).all()))
    return np.array(runs)


def test_random_masks_hide_16_bars_and_patch_masks_runs_of_ten() -> None:
    masks = window_masks(3, 11, STARTS, K)
    assert masks.shape == (len(STARTS), K) and masks.dtype == bool
    patched = kinds(masks)
    # round(0.15 * 105) = 16 random bars; round(15.75 / 10) = 2 patches of 10 (overlapping: 10-19)
    counts = masks.sum(axis=1)
    assert set(counts[~patched].tolist()) == {16}
    assert counts[patched].min() >= 10 and counts[patched].max() <= 20
    # both kinds occur about half the time (571 windows: 5 standard deviations is 60)
    assert abs(int(patched.sum()) - len(STARTS) / 2) < 60
    # over many windows every bar position is hidden sometimes, at about the target rate
    rate = masks.mean()
    assert 0.12 < rate < 0.19 and masks.any(axis=0).all()


def test_a_mask_depends_on_seed_step_and_window_only() -> None:
    masks = window_masks(3, 11, STARTS, K)
    assert np.array_equal(masks, window_masks(3, 11, STARTS, K))  # a function: same again
    # a window's mask does not depend on which other windows share its batch, or their order
    picked = STARTS[[40, 3, 200]]
    assert np.array_equal(window_masks(3, 11, picked, K), masks[[40, 3, 200]])
    for other in (window_masks(4, 11, STARTS, K), window_masks(3, 12, STARTS, K)):
        assert (other != masks).any(axis=1).mean() > 0.9  # another seed or step: other bars
    shifted = window_masks(3, 11, STARTS + 1, K)
    assert (shifted != masks).any(axis=1).mean() > 0.9  # another window: other bars
    assert not np.array_equal(window_masks(3, VALIDATION, STARTS, K), masks)


def test_mask_rule_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="ratio"):
        MaskRule(ratio=0.0).check(K)
    with pytest.raises(ConfigError, match=r"1\.\.30 bars"):
        MaskRule(patch=31).check(30)
    short = window_masks(0, 0, STARTS[:50], 12, MaskRule(ratio=0.5, patch=3))
    assert short.shape == (50, 12) and short.any(axis=1).all()
