"""The bars a run saw, and the windows of other data that share them: by the bars alone,
whatever the stride or the file's start_bar."""

from __future__ import annotations

import numpy as np

from moola.data.overlap import bar_hashes
from moola.data.seen import MIN_SHARED, record_bars, seen_windows, shared_bars
from moola.data.signal_free import random_walk_series
from moola.data.windows import OHLCWindows

K = 20


def cut(bars: np.ndarray, starts: list[int] | np.ndarray) -> np.ndarray:
    return np.stack([bars[s : s + K] for s in starts])


def labelled(ohlc: np.ndarray) -> OHLCWindows:
    n = len(ohlc)
    zeros = np.zeros(n, dtype=np.int64)
    return OHLCWindows(ohlc, zeros, zeros + 2, zeros + 5)


def test_equal_bars_hash_equal_and_any_change_of_one_price_changes_the_hash() -> None:
    bars = random_walk_series(50, seed=0)
    h = bar_hashes(bars)
    assert h.shape == (50,) and h.dtype == np.uint64 and len(np.unique(h)) == 50
    np.testing.assert_array_equal(bar_hashes(bars.copy()), h)
    nudged = bars.copy()
    nudged[7, 2] = np.nextafter(nudged[7, 2], 0)  # one ulp of one low
    changed = bar_hashes(nudged) != h
    assert changed.tolist() == [i == 7 for i in range(50)]
    assert bar_hashes(np.array([[-0.0, 1.0, -0.0, 0.5]])) == bar_hashes(
        np.array([[0.0, 1.0, 0.0, 0.5]])
    )


def test_a_recut_series_is_recognised_at_any_stride() -> None:
    """Trained on windows every 5 bars of bars 0..299; the series re-cut every 7 bars and
    continued by 100 new bars: in-sample exactly when at least 3 bars lie in 0..299."""
    seen_part = random_walk_series(300, seed=1)
    series = np.concatenate([seen_part, random_walk_series(100, seed=2)])
    record = record_bars(labelled(cut(seen_part, range(0, 300 - K + 1, 5))), np.arange(57))
    assert len(record) == 300  # every bar once: 8 bytes a bar
    starts = np.arange(0, 400 - K + 1, 7)
    mask = seen_windows(record, cut(series, starts))
    np.testing.assert_array_equal(mask, starts <= 300 - MIN_SHARED)


def test_only_the_recorded_rows_count() -> None:
    bars = random_walk_series(200, seed=3)
    windows = labelled(cut(bars, [0, 50, 100, 150, 180]))
    record = record_bars(windows, np.array([0, 2]))  # bars 0..19 and 100..119
    shared, distinct = shared_bars(record, windows.ohlc)
    assert distinct.tolist() == [K] * 5
    assert shared.tolist() == [K, 0, K, 0, 0]


def test_a_flat_stretch_shared_by_chance_does_not_make_a_window_in_sample() -> None:
    """Two distinct bars (a price repeated) in common are not enough; a window made only of
    those bars is, since all of its distinct bars were seen."""
    flat = np.tile([1.0, 1.0, 1.0, 1.0], (K, 1))
    other_flat = np.tile([2.0, 2.0, 2.0, 2.0], (K, 1))
    trained = labelled(np.stack([np.concatenate([flat[:10], other_flat[:10]])]))
    record = record_bars(trained, np.array([0]))
    fresh = random_walk_series(K, seed=4)
    fresh[:5] = flat[:5]
    fresh[5:8] = other_flat[:3]
    assert seen_windows(record, np.stack([fresh, flat])).tolist() == [False, True]


def test_an_empty_record_sees_nothing() -> None:
    bars = random_walk_series(40, seed=5)
    assert not seen_windows(np.zeros(0, dtype=np.int64), cut(bars, [0, 10])).any()
