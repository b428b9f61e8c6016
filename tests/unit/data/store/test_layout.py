"""Windows laid back onto their series: shared bars once, gaps split, bad claims not trusted."""

from __future__ import annotations

import numpy as np

from moola.data import OHLCWindows, generate_synthetic
from moola.data.labeling import LabelRule, label_series
from moola.data.pooled import pool_windows
from moola.data.signal_free import random_walk_series
from moola.data.store.layout import lay_out, plan_segments

K = 105


def stored_windows(bars: np.ndarray, starts: np.ndarray) -> np.ndarray:
    return bars[starts[:, None] + np.arange(K)[None, :]]


def test_windows_of_one_series_store_each_bar_once():
    series = random_walk_series(1_000, seed=1)
    windows = label_series(series, LabelRule(stride=7))
    layout, bars, keys, position = lay_out(windows, "series")
    last = int(windows.start_bar[-1]) + K
    assert layout.n_segments == 1 and layout.n_bars == last
    np.testing.assert_array_equal(bars, series[:last])
    np.testing.assert_array_equal(layout.starts, windows.start_bar)
    np.testing.assert_array_equal(stored_windows(bars, layout.starts), windows.ohlc)
    np.testing.assert_array_equal(position, windows.start_bar)
    assert layout.conflicts == 0 and (keys == 0).all()


def test_a_gap_between_windows_starts_a_new_segment():
    """Windows 200 bars apart share nothing: two segments, no recursion across the gap."""
    starts = np.array([0, 50, 300, 320])
    layout = plan_segments(np.zeros(4, dtype=np.int64), starts, K)
    np.testing.assert_array_equal(layout.offsets, [0, 155, 155 + 125])
    np.testing.assert_array_equal(layout.starts, [0, 50, 155, 175])


def test_touching_windows_are_one_segment():
    layout = plan_segments(np.zeros(2, dtype=np.int64), np.array([0, K]), K)
    assert layout.n_segments == 1 and layout.n_bars == 2 * K


def test_pooled_series_stay_apart_even_at_the_same_start_bars():
    a = label_series(random_walk_series(400, seed=1), LabelRule(stride=15))
    b = label_series(random_walk_series(400, seed=2), LabelRule(stride=15))
    pooled = pool_windows([a, b])
    layout, bars, keys, _ = lay_out(pooled, "series")
    assert layout.n_segments == 2 and layout.conflicts == 0
    np.testing.assert_array_equal(stored_windows(bars, layout.starts), pooled.ohlc)
    np.testing.assert_array_equal(keys, pooled.series)


def test_pre_cut_windows_are_detected_and_laid_out_in_any_row_order():
    windows = label_series(random_walk_series(900, seed=3), LabelRule(stride=10))
    order = np.random.default_rng(0).permutation(len(windows))
    shuffled = OHLCWindows(
        windows.ohlc[order],
        windows.label[order],
        windows.expansion_start[order],
        windows.expansion_end[order],
    )
    layout, bars, _, position = lay_out(shuffled, "series")
    assert layout.n_segments == 1 and layout.n_bars == int(windows.start_bar.max()) + K
    np.testing.assert_array_equal(stored_windows(bars, layout.starts), shuffled.ohlc)
    np.testing.assert_array_equal(position, windows.start_bar[order])


def test_windows_that_share_nothing_are_series_of_their_own():
    windows = generate_synthetic(n_windows=30, seed=0)
    layout, bars, _, _ = lay_out(windows, "series")
    assert layout.n_segments == 30 and layout.n_bars == 30 * K
    np.testing.assert_array_equal(stored_windows(bars, layout.starts), windows.ohlc)


def test_window_semantics_store_every_window_on_its_own():
    windows = label_series(random_walk_series(600, seed=5), LabelRule(stride=5))
    layout, bars, _, _ = lay_out(windows, "window")
    assert layout.n_segments == len(windows) and layout.n_bars == len(windows) * K
    np.testing.assert_array_equal(bars.reshape(len(windows), K, 4), windows.ohlc)


def test_a_start_bar_that_lies_is_not_trusted():
    """Two series under one id, at overlapping start bars: the windows whose bars disagree are
    stored on their own, and every window still reads exactly its own bars."""
    a = label_series(random_walk_series(400, seed=1), LabelRule(stride=15))
    b = label_series(random_walk_series(400, seed=2), LabelRule(stride=15))
    merged = OHLCWindows(
        np.concatenate([a.ohlc, b.ohlc]),
        np.concatenate([a.label, b.label]),
        np.concatenate([a.expansion_start, b.expansion_start]),
        np.concatenate([a.expansion_end, b.expansion_end]),
        start_bar=np.concatenate([a.start_bar, b.start_bar]),  # no series id: they collide
    )
    layout, bars, _, _ = lay_out(merged, "series")
    np.testing.assert_array_equal(stored_windows(bars, layout.starts), merged.ohlc)
    assert 0 < layout.conflicts <= len(b)
