"""Pre-cut windows that share bars get the purged split they would get with ``start_bar``."""

from __future__ import annotations

import numpy as np
import pytest

from moola.data import OHLCWindows, chronological_split, split_windows, train_val_split
from moola.data.labeling import label_series
from moola.data.overlap import detect_series
from moola.data.signal_free import random_walk_series
from moola.data.splits import choose_split, series_split
from moola.errors import ConfigError

K = 105


def labelled(seed: int = 0, n_bars: int = 3000) -> OHLCWindows:
    """A random walk cut by ``moola label``'s rule: every 15 bars, so neighbours share 90."""
    return label_series(random_walk_series(n_bars, seed=seed))


def drop_start_bar(w: OHLCWindows, order: np.ndarray | None = None) -> OHLCWindows:
    idx = np.arange(len(w)) if order is None else order
    return OHLCWindows(w.ohlc[idx], w.label[idx], w.expansion_start[idx], w.expansion_end[idx])


def bars_of(starts: np.ndarray) -> set[int]:
    return set().union(*(range(int(s), int(s) + K) for s in starts))


@pytest.mark.parametrize("seed", [0, 1])
def test_dropped_start_bar_gives_the_same_split(seed: int) -> None:
    timed = labelled(seed)
    truth = chronological_split(timed.start_bar, window=K)
    split = choose_split(drop_start_bar(timed))
    assert split.info.kind == "purged" and split.info.n_series == 1
    np.testing.assert_array_equal(split.train, truth[0])
    np.testing.assert_array_equal(split.val, truth[1])
    assert split.info.n_purged == len(timed) - len(truth[0]) - len(truth[1]) > 0
    # the recovered timeline is the series' own (its first window at bar 0)
    np.testing.assert_array_equal(detect_series(timed.ohlc).start_bar, timed.start_bar)


def test_shuffled_rows_give_the_same_windows_on_each_side() -> None:
    timed = labelled(2)
    order = np.random.default_rng(5).permutation(len(timed))
    split = choose_split(drop_start_bar(timed, order))
    truth_train, truth_val = chronological_split(timed.start_bar, window=K)
    assert sorted(order[split.train].tolist()) == truth_train.tolist()
    assert sorted(order[split.val].tolist()) == truth_val.tolist()
    # no bar of a validation window is in a training window
    starts = timed.start_bar[order]
    assert not bars_of(starts[split.train]) & bars_of(starts[split.val])
    # the validation order handed to the bootstrap follows time
    assert np.all(np.diff(starts[split.val][split.val_order]) > 0)
    assert split.overlap_run == 7  # ceil(105 / 15) windows start within one window's span


def test_split_windows_uses_the_detected_split() -> None:
    timed = labelled(0)
    plain = drop_start_bar(timed)
    for a, b in zip(split_windows(plain), chronological_split(timed.start_bar, window=K)):
        np.testing.assert_array_equal(a, b)


def test_windows_that_share_nothing_keep_the_random_split() -> None:
    bars = random_walk_series(20 * K, seed=3)
    ohlc = bars.reshape(20, K, 4)  # back to back: no bar in two windows
    zeros = np.zeros(20, dtype=np.int64)
    split = choose_split(OHLCWindows(ohlc, zeros, zeros, zeros), seed=4)
    assert split.info.kind == "random" and split.info.n_purged == 0
    for a, b in zip((split.train, split.val), train_val_split(20, seed=4)):
        np.testing.assert_array_equal(a, b)


def test_flat_bars_do_not_link_windows() -> None:
    """The same bar repeated (a quiet market) is no evidence of a shared stretch."""
    flat = np.tile(np.array([1.0, 1.1, 0.9, 1.0]), (6, K, 1))
    assert not detect_series(flat).any_shared


def test_two_pooled_series_are_split_each_on_its_own() -> None:
    a, b = labelled(0, 2000), labelled(1, 3000)
    pooled = OHLCWindows(
        np.concatenate([a.ohlc, b.ohlc]),
        np.concatenate([a.label, b.label]),
        np.concatenate([a.expansion_start, b.expansion_start]),
        np.concatenate([a.expansion_end, b.expansion_end]),
    )
    layout = detect_series(pooled.ohlc)
    assert layout.n_series == 2
    np.testing.assert_array_equal(layout.series, np.r_[np.zeros(len(a)), np.ones(len(b))])
    split = choose_split(pooled)
    ta, va = chronological_split(a.start_bar, window=K)
    tb, vb = chronological_split(b.start_bar, window=K)
    np.testing.assert_array_equal(split.train, np.r_[ta, tb + len(a)])
    np.testing.assert_array_equal(split.val, np.r_[va, vb + len(a)])
    assert split.info.n_series == 2


def test_lone_windows_beside_a_series_get_the_random_split_among_themselves() -> None:
    series = labelled(0, 1500)
    lone = random_walk_series(6 * K, seed=9).reshape(6, K, 4) * 3.0  # another price level
    n = len(series)
    zeros = np.zeros(6, dtype=np.int64)
    mixed = OHLCWindows(
        np.concatenate([series.ohlc, lone]),
        np.r_[series.label, zeros],
        np.r_[series.expansion_start, zeros],
        np.r_[series.expansion_end, zeros],
    )
    split = choose_split(mixed, seed=1)
    lt, lv = train_val_split(6, seed=1)
    t, v = chronological_split(series.start_bar, window=K)
    np.testing.assert_array_equal(split.train, np.r_[t, lt + n])
    np.testing.assert_array_equal(split.val, np.r_[v, lv + n])
    assert "6 independent" in split.info.detail


def test_embargo_purges_training_windows_near_the_cut() -> None:
    starts = np.arange(0, 3000 - K + 1, 15)
    series = np.zeros(len(starts), dtype=np.int64)
    plain = series_split(starts, series, window=K)
    np.testing.assert_array_equal(plain[0], chronological_split(starts, window=K)[0])
    train, val = series_split(starts, series, window=K, embargo=30)
    np.testing.assert_array_equal(val, plain[1])
    end = int(starts.max()) + K
    cut = end - round(end * 0.2)  # the series spans bars 0..end-1
    assert (starts[train] + K + 30 <= cut).all() and len(train) == len(plain[0]) - 2
    with pytest.raises(ConfigError, match="embargo must be >= 0"):
        series_split(starts, series, window=K, embargo=-1)


def test_the_split_is_reported() -> None:
    info = choose_split(drop_start_bar(labelled(0))).info
    assert info.to_dict()["kind"] == "purged"
    assert info.describe().startswith(
        f"split: purged, {info.n_train} train / {info.n_val} validation windows, "
        f"{info.n_purged} purged (shared bars detected"
    )
