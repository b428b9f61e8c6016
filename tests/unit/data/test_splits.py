"""Every path that makes a train/validation split, held to one rule at its boundaries.

The rule (README "Data", :func:`moola.data.splits.purged_masks`): a series covers the bars
from its first window's first bar to its last window's last bar; its last ``val_fraction``
of those bars (rounded) is validation. A window is validation when all its bars are, and
training when none of its bars is validation or among the ``embargo`` bars before them;
every other window is purged. :func:`rule` below states it on sets of bars, by brute force,
independently of the code's arithmetic; the properties draw strides from 1 to the window
length (so windows end exactly on the cut), embargoes from 0 to two windows, several series
and shuffled rows, and check ``chronological_split``, ``purged_masks``, ``series_split``,
``choose_split`` (``start_bar`` given, pooled series, detected overlap) and
``split_windows`` against it.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moola.data import OHLCWindows, chronological_split, split_windows, train_val_split
from moola.data.overlap import MIN_DISTINCT_SHARED, SeriesLayout, detect_series
from moola.data.signal_free import random_walk_series
from moola.data.splits import (
    SplitInfo,
    check_split_settings,
    choose_split,
    fold_indices,
    overlap_run,
    purged_masks,
    series_split,
    timeline,
)
from moola.errors import ConfigError

FAST = settings(max_examples=60, deadline=None)
FRACTIONS = st.sampled_from([0.1, 0.2, 0.25, 1 / 3, 0.5, 0.7, 0.9])


def rule(
    starts: np.ndarray, window: int, fraction: float, embargo: int
) -> tuple[set[int], set[int]]:
    """(train rows, validation rows) of one series' windows, by the rule on sets of bars."""
    bars = [set(range(int(s), int(s) + window)) for s in starts]
    series_bars = sorted(set().union(*bars))
    first, end = series_bars[0], series_bars[-1] + 1  # the series spans first..end-1
    n_val = round((end - first) * fraction)
    val_bars = set(range(end - n_val, end))
    guarded = set(range(end - n_val - embargo, end))  # validation bars and the embargo
    val = {i for i, b in enumerate(bars) if b <= val_bars}
    train = {i for i, b in enumerate(bars) if not b & guarded}
    return train, val


def pooled_rule(
    starts: np.ndarray, series: np.ndarray, window: int, fraction: float, embargo: int
) -> tuple[set[int], set[int]]:
    """The rule applied to every series on its own."""
    train: set[int] = set()
    val: set[int] = set()
    for s in np.unique(series):
        rows = np.flatnonzero(series == s)
        t, v = rule(starts[rows], window, fraction, embargo)
        train |= {int(rows[i]) for i in t}
        val |= {int(rows[i]) for i in v}
    return train, val


def most_starts_within_a_window(starts: np.ndarray, window: int) -> int:
    """overlap_run by brute force: the most windows whose first bar lies in [s, s + window)."""
    return max(int(((starts >= s) & (starts < s + window)).sum()) for s in starts)


@st.composite
def one_series(draw: st.DrawFn, min_windows: int = 2) -> tuple[np.ndarray, int]:
    """Window starts of one series (regular stride 1..K, or irregular gaps), and K."""
    window = draw(st.integers(3, 30))
    n = draw(st.integers(min_windows, 30))
    first = draw(st.integers(0, 40))
    if draw(st.booleans()):
        stride = draw(st.integers(1, window))
        starts = first + stride * np.arange(n)
    else:
        gaps = draw(st.lists(st.integers(1, 2 * window), min_size=n - 1, max_size=n - 1))
        starts = first + np.concatenate([[0], np.cumsum(gaps, dtype=np.int64)])
    return np.asarray(starts, dtype=np.int64), window


@st.composite
def pooled_series(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int]:
    """1-4 series of one window length, their rows interleaved: (starts, series ids, K)."""
    window = draw(st.integers(3, 25))
    starts, ids = [], []
    for sid in draw(st.lists(st.integers(0, 9), min_size=1, max_size=4, unique=True)):
        n = draw(st.integers(1, 15))
        stride = draw(st.integers(1, window))
        starts.append(draw(st.integers(0, 30)) + stride * np.arange(n))
        ids.append(np.full(n, sid))
    order = np.random.default_rng(draw(st.integers(0, 2**16))).permutation(sum(map(len, ids)))
    return (
        np.concatenate(starts).astype(np.int64)[order],
        np.concatenate(ids).astype(np.int64)[order],
        window,
    )


# ---------------------------------------------------------------- the rule itself


@FAST
@given(series=one_series(), fraction=FRACTIONS, embargo=st.integers(0, 60))
def test_purged_masks_follow_the_rule(
    series: tuple[np.ndarray, int], fraction: float, embargo: int
) -> None:
    starts, window = series
    train, val, cut = purged_masks(starts, window=window, val_fraction=fraction, embargo=embargo)
    expected_train, expected_val = rule(starts, window, fraction, embargo)
    assert set(np.flatnonzero(train)) == expected_train
    assert set(np.flatnonzero(val)) == expected_val
    end = int(starts.max()) + window
    assert cut == end - round((end - int(starts.min())) * fraction)  # the first validation bar


@pytest.mark.parametrize("embargo", [0, 1, 4])
@pytest.mark.parametrize("stride", range(1, 11))
def test_windows_at_the_cut(stride: int, embargo: int) -> None:
    """K = 10, strides 1..K: the window that ends on the bar before the cut trains only without
    an embargo; a window that starts on the cut is validation; one bar earlier, it is purged."""
    window = 10
    starts = stride * np.arange(40)
    train, val = chronological_split(starts, window=window, val_fraction=0.25, embargo=embargo)
    end = int(starts.max()) + window
    cut = end - round(end * 0.25)
    for row, start in enumerate(starts.tolist()):
        last = start + window - 1
        in_train, in_val = row in set(train.tolist()), row in set(val.tolist())
        assert in_val == (start >= cut), (row, start, cut)
        assert in_train == (last < cut - embargo), (row, start, cut)
    if stride == 1:  # every start exists: the boundary windows are there to check
        assert cut - window in set(train.tolist()) or embargo > 0
        assert cut - window not in set(train.tolist()) or embargo == 0
        assert cut in set(val.tolist()) and cut - 1 not in set(train.tolist()) | set(val.tolist())


@FAST
@given(series=one_series(), fraction=FRACTIONS, embargo=st.integers(0, 60), seed=st.integers(0, 99))
def test_chronological_split_follows_the_rule_in_any_row_order(
    series: tuple[np.ndarray, int], fraction: float, embargo: int, seed: int
) -> None:
    starts, window = series
    starts = starts[np.random.default_rng(seed).permutation(len(starts))]
    expected_train, expected_val = rule(starts, window, fraction, embargo)
    if not expected_train or not expected_val:
        with pytest.raises(ConfigError, match=r"chronological split at bar \d+ of bars"):
            chronological_split(starts, window=window, val_fraction=fraction, embargo=embargo)
        return
    train, val = chronological_split(starts, window=window, val_fraction=fraction, embargo=embargo)
    assert train.dtype == val.dtype == np.int64
    assert train.tolist() == sorted(expected_train) and val.tolist() == sorted(expected_val)


def test_an_empty_side_names_the_bars_and_the_counts() -> None:
    starts = np.array([10, 11, 12])  # bars 10..21; the cut at 20 leaves no validation window
    with pytest.raises(
        ConfigError,
        match=r"^a chronological split at bar 20 of bars 10\.\.21 leaves 1 training and 0 "
        r"validation windows; use more data or another val_fraction$",
    ):
        chronological_split(starts, window=10, val_fraction=0.2)


def test_the_defaults_are_a_fifth_and_no_embargo() -> None:
    starts = np.arange(0, 400, 7)
    explicit = chronological_split(starts, window=30, val_fraction=0.2, embargo=0)
    for a, b in zip(chronological_split(starts, window=30), explicit):
        np.testing.assert_array_equal(a, b)
    ids = np.zeros(len(starts), dtype=np.int64)
    for a, b in zip(series_split(starts, ids, window=30), explicit):
        np.testing.assert_array_equal(a, b)
    masks = purged_masks(starts, window=30, val_fraction=0.2)
    np.testing.assert_array_equal(
        masks[0], purged_masks(starts, window=30, val_fraction=0.2, embargo=0)[0]
    )


@pytest.mark.parametrize(
    ("fraction", "embargo", "match"),
    [
        (0.0, 0, r"^val_fraction must be in \(0, 1\), got 0\.0$"),
        (1.0, 0, r"^val_fraction must be in \(0, 1\), got 1\.0$"),
        (-0.2, 0, r"val_fraction must be in \(0, 1\)"),
        (0.2, -1, r"^embargo must be >= 0 bars, got -1$"),
    ],
)
def test_bad_settings_are_named(fraction: float, embargo: int, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        check_split_settings(fraction, embargo)
    starts = np.arange(0, 200, 5)
    with pytest.raises(ConfigError, match=match):
        chronological_split(starts, window=20, val_fraction=fraction, embargo=embargo)
    with pytest.raises(ConfigError, match=match):
        series_split(starts, np.zeros(40), window=20, val_fraction=fraction, embargo=embargo)


def test_the_settings_at_their_bounds_pass() -> None:
    check_split_settings(0.5)  # embargo defaults to 0
    check_split_settings(0.999, 0)
    check_split_settings(1e-6, 10**6)


# ---------------------------------------------------------------- several series


@FAST
@given(pooled=pooled_series(), fraction=FRACTIONS, embargo=st.integers(0, 40))
def test_series_split_cuts_every_series_on_its_own(
    pooled: tuple[np.ndarray, np.ndarray, int], fraction: float, embargo: int
) -> None:
    starts, ids, window = pooled
    train, val = series_split(starts, ids, window=window, val_fraction=fraction, embargo=embargo)
    expected_train, expected_val = pooled_rule(starts, ids, window, fraction, embargo)
    assert train.dtype == val.dtype == np.int64
    assert train.tolist() == sorted(expected_train) and val.tolist() == sorted(expected_val)


def pooled_windows(starts: np.ndarray, ids: np.ndarray, window: int) -> OHLCWindows:
    """Windows at ``starts`` of series ``ids`` (prices do not matter when start_bar is given)."""
    n = len(starts)
    ohlc = np.ones((n, window, 4))
    zeros = np.zeros(n, dtype=np.int64)
    return OHLCWindows(ohlc, zeros, zeros, zeros, start_bar=starts, series=ids)


@FAST
@given(pooled=pooled_series(), fraction=FRACTIONS, embargo=st.integers(0, 40))
def test_choose_split_on_pooled_series(
    pooled: tuple[np.ndarray, np.ndarray, int], fraction: float, embargo: int
) -> None:
    starts, ids, window = pooled
    windows = pooled_windows(starts, ids, window)
    expected_train, expected_val = pooled_rule(starts, ids, window, fraction, embargo)
    if not expected_train or not expected_val:
        with pytest.raises(ConfigError, match=r"chronological split of \d+ pooled windows leaves"):
            choose_split(windows, val_fraction=fraction, embargo=embargo)
        return
    split = choose_split(windows, val_fraction=fraction, embargo=embargo)
    assert split.train.tolist() == sorted(expected_train)
    assert split.val.tolist() == sorted(expected_val)
    # validation in time order, series by series
    keys = list(zip(ids[split.val][split.val_order], starts[split.val][split.val_order]))
    assert keys == sorted(keys) and sorted(split.val_order.tolist()) == list(range(len(split.val)))
    assert split.overlap_run == max(
        most_starts_within_a_window(starts[split.val][ids[split.val] == s], window)
        for s in np.unique(ids[split.val])
    )
    n_series = len(np.unique(ids))
    assert split.info == SplitInfo(
        "chronological",
        len(expected_train),
        len(expected_val),
        len(starts) - len(expected_train) - len(expected_val),
        n_series,
        embargo,
        f"start_bar and series given: {n_series} series, each cut on its own",
    )


def test_pooled_series_with_an_empty_side_are_an_error() -> None:
    windows = pooled_windows(np.array([0, 1, 0, 1]), np.array([0, 0, 1, 1]), 10)
    with pytest.raises(
        ConfigError,
        match=r"^the chronological split of 4 pooled windows leaves 0 training and 0 validation "
        r"windows; use more data or another val_fraction$",
    ):
        choose_split(windows)


# ---------------------------------------------------------------- start_bar given


@FAST
@given(series=one_series(), fraction=FRACTIONS, embargo=st.integers(0, 60), seed=st.integers(0, 99))
def test_choose_split_with_start_bar(
    series: tuple[np.ndarray, int], fraction: float, embargo: int, seed: int
) -> None:
    starts, window = series
    starts = starts[np.random.default_rng(seed).permutation(len(starts))]
    n = len(starts)
    zeros = np.zeros(n, dtype=np.int64)
    windows = OHLCWindows(np.ones((n, window, 4)), zeros, zeros, zeros, start_bar=starts)
    expected_train, expected_val = rule(starts, window, fraction, embargo)
    if not expected_train or not expected_val:
        with pytest.raises(ConfigError):
            choose_split(windows, val_fraction=fraction, embargo=embargo)
        return
    split = choose_split(windows, val_fraction=fraction, embargo=embargo)
    assert split.train.tolist() == sorted(expected_train)
    assert split.val.tolist() == sorted(expected_val)
    assert np.all(np.diff(starts[split.val][split.val_order]) > 0)  # time order
    assert split.overlap_run == most_starts_within_a_window(starts[split.val], window)
    assert split.info == SplitInfo(
        "chronological",
        len(expected_train),
        len(expected_val),
        n - len(expected_train) - len(expected_val),
        1,
        embargo,
        "start_bar given",
    )


# ---------------------------------------------------------------- detected overlap


def cut_windows(bars: np.ndarray, starts: np.ndarray, window: int) -> np.ndarray:
    return np.stack([bars[s : s + window] for s in starts])


def unlabelled(ohlc: np.ndarray) -> OHLCWindows:
    zeros = np.zeros(len(ohlc), dtype=np.int64)
    return OHLCWindows(ohlc, zeros, zeros, zeros)


@settings(max_examples=30, deadline=None)
@given(
    window=st.integers(6, 24),
    data=st.data(),
    fraction=FRACTIONS,
    embargo=st.integers(0, 30),
    seed=st.integers(0, 2**16),
)
def test_detected_overlap_gives_the_split_start_bar_would(
    window: int, data: st.DataObject, fraction: float, embargo: int, seed: int
) -> None:
    """Windows sharing at least MIN_DISTINCT_SHARED bars (stride 1..K-3), rows shuffled,
    start_bar dropped: the same split as with start_bar, embargo included."""
    stride = data.draw(st.integers(1, window - MIN_DISTINCT_SHARED), label="stride")
    n = data.draw(st.integers(3, 30), label="n")
    starts = stride * np.arange(n)
    order = np.random.default_rng(seed).permutation(n)
    bars = random_walk_series(int(starts.max()) + window, seed=seed)
    windows = unlabelled(cut_windows(bars, starts[order], window))
    expected_train, expected_val = rule(starts[order], window, fraction, embargo)
    if not expected_train or not expected_val:
        with pytest.raises(ConfigError, match=r"the purged split of \d+ windows that share bars"):
            choose_split(windows, val_fraction=fraction, embargo=embargo)
        return
    split = choose_split(windows, val_fraction=fraction, embargo=embargo)
    assert split.train.tolist() == sorted(expected_train)
    assert split.val.tolist() == sorted(expected_val)
    assert np.all(np.diff(starts[order][split.val][split.val_order]) > 0)
    assert split.overlap_run == most_starts_within_a_window(starts[order][split.val], window)
    assert split.info == SplitInfo(
        "purged",
        len(expected_train),
        len(expected_val),
        n - len(expected_train) - len(expected_val),
        1,
        embargo,
        f"shared bars detected: {n} windows in 1 series",
    )
    if embargo == 0 and fraction == 0.2:
        for a, b in zip(split_windows(windows), (split.train, split.val)):
            np.testing.assert_array_equal(a, b)


def test_two_detected_series_and_lone_windows() -> None:
    """Two series (strides 1 and 4) and three lone windows, interleaved: every series is cut on
    its own, the lone windows get the seeded random split among themselves."""
    window = 12
    a_starts, b_starts = np.arange(30), 4 * np.arange(15)
    a = cut_windows(random_walk_series(60, seed=1), a_starts, window)
    b = cut_windows(random_walk_series(80, seed=2) * 2.0, b_starts, window)
    lone = random_walk_series(3 * window, seed=3).reshape(3, window, 4) * 5.0
    ohlc = np.concatenate([a, b, lone])
    order = np.random.default_rng(0).permutation(len(ohlc))
    starts = np.r_[a_starts, b_starts, np.zeros(3, dtype=np.int64)][order]
    ids = np.r_[np.zeros(30), np.ones(15), np.full(3, 2)].astype(np.int64)[order]
    split = choose_split(unlabelled(ohlc[order]), val_fraction=0.3, embargo=2, seed=7)

    linked = np.flatnonzero(ids < 2)
    rows = np.flatnonzero(ids == 2)
    train, val = pooled_rule(starts[linked], ids[linked], window, 0.3, 2)
    lone_train, lone_val = train_val_split(3, val_fraction=0.3, seed=7)
    assert split.train.tolist() == sorted(
        [int(linked[i]) for i in train] + rows[lone_train].tolist()
    )
    assert split.val.tolist() == sorted([int(linked[i]) for i in val] + rows[lone_val].tolist())
    assert split.info.kind == "purged" and split.info.n_series == 2 and split.info.embargo == 2
    assert split.info.detail == "shared bars detected: 45 windows in 2 series, 3 independent"
    assert split.info.n_purged == 48 - len(split.train) - len(split.val) > 0
    v = split.val
    runs = [most_starts_within_a_window(starts[v][ids[v] == s], window) for s in (0, 1)]
    assert split.overlap_run == max(runs) == 3  # series b: 3 validation windows within 12 bars


def test_one_lone_window_trains() -> None:
    window = 10
    series = cut_windows(random_walk_series(80, seed=4), np.arange(0, 70, 2), window)
    lone = random_walk_series(window, seed=5)[None] * 3.0
    split = choose_split(unlabelled(np.concatenate([series, lone])))
    assert len(series) in split.train.tolist()
    assert split.info.detail.endswith(", 1 independent")


def test_windows_that_share_nothing_get_the_seeded_random_split() -> None:
    window = 10
    ohlc = random_walk_series(12 * window, seed=6).reshape(12, window, 4)
    split = choose_split(unlabelled(ohlc), val_fraction=0.25, seed=3, embargo=5)
    train, val = train_val_split(12, val_fraction=0.25, seed=3)
    assert split.train.tolist() == train.tolist() and split.val.tolist() == val.tolist()
    assert split.val_order.tolist() == list(range(len(val))) and split.overlap_run == 1
    assert split.info == SplitInfo("random", 9, 3, 0, 0, 0, "no windows share bars")


def test_the_defaults_of_choose_split() -> None:
    window = 10
    starts = np.arange(0, 90, 3)
    windows = unlabelled(cut_windows(random_walk_series(120, seed=8), starts, window))
    split = choose_split(windows)
    explicit = choose_split(windows, val_fraction=0.2, seed=42, embargo=0)
    assert split.train.tolist() == explicit.train.tolist()
    assert split.val.tolist() == explicit.val.tolist()
    assert split.info.embargo == 0
    lone = unlabelled(random_walk_series(10 * window, seed=9).reshape(10, window, 4))
    assert choose_split(lone).val.tolist() == train_val_split(10, seed=42)[1].tolist()
    assert split_windows(lone)[1].tolist() == train_val_split(10, seed=42)[1].tolist()


def test_a_detected_split_with_an_empty_side_is_an_error() -> None:
    window = 10
    windows = unlabelled(cut_windows(random_walk_series(20, seed=10), np.arange(3), window))
    with pytest.raises(
        ConfigError,
        match=r"^the purged split of 3 windows that share bars leaves 1 training and 0 "
        r"validation windows; use more data or another val_fraction$",
    ):
        choose_split(windows, val_fraction=0.2)


def test_a_given_layout_is_used_instead_of_detection() -> None:
    window = 10
    ohlc = random_walk_series(12 * window, seed=11).reshape(12, window, 4)  # nothing shared
    starts = 3 * np.arange(12)  # ... but the layout says: one series, stride 3
    layout = SeriesLayout(np.zeros(12, np.int64), starts, np.ones(12, bool), 0)
    split = choose_split(unlabelled(ohlc), layout=layout, val_fraction=0.4)
    train, val = rule(starts, window, 0.4, 0)
    assert split.info.kind == "purged" and split.val.tolist() == sorted(val) == [9, 10, 11]
    assert split.train.tolist() == sorted(train) == list(range(6))


# ---------------------------------------------------------------- detection


@settings(max_examples=30, deadline=None)
@given(
    window=st.integers(6, 20),
    strides=st.lists(st.integers(1, 17), min_size=1, max_size=3),
    counts=st.lists(st.integers(2, 12), min_size=3, max_size=3),
    seed=st.integers(0, 2**16),
)
def test_detection_recovers_every_series_from_shuffled_rows(
    window: int, strides: list[int], counts: list[int], seed: int
) -> None:
    parts, truth_series, truth_starts = [], [], []
    for sid, stride in enumerate(strides):
        stride = min(stride, window - MIN_DISTINCT_SHARED)
        starts = stride * np.arange(counts[sid])
        bars = random_walk_series(int(starts.max()) + window, seed=seed + sid) * (1 + sid)
        parts.append(cut_windows(bars, starts, window))
        truth_series.append(np.full(len(starts), sid))
        truth_starts.append(starts)
    order = np.random.default_rng(seed).permutation(sum(counts[: len(strides)]))
    layout = detect_series(np.concatenate(parts)[order])
    series, starts = np.concatenate(truth_series)[order], np.concatenate(truth_starts)[order]
    # series are numbered by their first row; start_bar counts from each series' first window
    _, first_rows = np.unique(series, return_index=True)
    numbering = {int(series[r]): k for k, r in enumerate(sorted(first_rows))}
    assert layout.series.tolist() == [numbering[int(s)] for s in series]
    assert layout.start_bar.tolist() == starts.tolist()
    assert layout.linked.all() and layout.any_shared and layout.conflicts == 0
    assert layout.n_series == len(strides)
    assert layout.series.dtype == layout.start_bar.dtype == np.int64


@pytest.mark.parametrize(("shared", "linked"), [(MIN_DISTINCT_SHARED, True), (2, False)])
def test_the_shortest_shared_run_that_links(shared: int, linked: bool) -> None:
    window = 10
    bars = random_walk_series(2 * window, seed=12)
    ohlc = cut_windows(bars, np.array([0, window - shared]), window)
    layout = detect_series(ohlc)
    assert layout.any_shared == linked
    if linked:
        assert layout.start_bar.tolist() == [0, window - shared] and layout.n_series == 1
    else:
        assert layout.series.tolist() == [0, 1] and layout.start_bar.tolist() == [0, 0]
    assert detect_series(ohlc, min_distinct=shared + 1).any_shared is False


def test_a_shared_run_needs_distinct_bars() -> None:
    """Five shared bars, but only two different ones among them: no link; three: a link."""
    window = 8
    flat = np.array([[1.0, 1.2, 0.9, 1.1]] * 3 + [[2.0, 2.2, 1.9, 2.1]] * 2)  # 2 distinct
    head, tail = random_walk_series(3, seed=13), random_walk_series(3, seed=14) * 2
    a = np.concatenate([head, flat])
    b = np.concatenate([flat, tail])
    assert not detect_series(np.stack([a, b])).any_shared
    three = flat.copy()
    three[2] = [3.0, 3.2, 2.9, 3.1]
    a, b = np.concatenate([head, three]), np.concatenate([three, tail])
    layout = detect_series(np.stack([a, b]))
    assert layout.any_shared and layout.start_bar.tolist() == [0, 3]
    assert len(a) == window


def test_identical_windows_share_a_start() -> None:
    bars = random_walk_series(10, seed=15)
    layout = detect_series(np.stack([bars, bars, bars]))
    assert layout.start_bar.tolist() == [0, 0, 0] and layout.n_series == 1
    assert layout.linked.all()


def test_no_windows_no_series() -> None:
    layout = detect_series(np.zeros((0, 10, 4)))
    assert layout.n_series == 0 and not layout.any_shared and layout.conflicts == 0
    assert layout.series.dtype == layout.start_bar.dtype == np.int64
    assert SeriesLayout(np.array([0, 2, 1]), np.zeros(3), np.zeros(3, bool), 0).n_series == 3


# ---------------------------------------------------------------- overlap_run


@FAST
@given(series=one_series(min_windows=1), seed=st.integers(0, 99))
def test_overlap_run_counts_the_windows_starting_within_one_window(
    series: tuple[np.ndarray, int], seed: int
) -> None:
    starts, window = series
    shuffled = starts[np.random.default_rng(seed).permutation(len(starts))]
    assert overlap_run(shuffled, window) == most_starts_within_a_window(starts, window)


@pytest.mark.parametrize(
    ("stride", "expected"), [(1, 10), (3, 4), (5, 2), (9, 2), (10, 1), (11, 1)]
)
def test_overlap_run_at_the_strides(stride: int, expected: int) -> None:
    assert overlap_run(stride * np.arange(20), 10) == expected


def test_overlap_run_of_nothing_is_one() -> None:
    assert overlap_run(np.zeros(0, dtype=np.int64), 10) == 1


# ---------------------------------------------------------------- the random split


@FAST
@given(n=st.integers(2, 300), fraction=st.floats(0.01, 0.99), seed=st.integers(0, 2**32 - 1))
def test_random_split_sizes_and_cover(n: int, fraction: float, seed: int) -> None:
    train, val = train_val_split(n, val_fraction=fraction, seed=seed)
    assert len(val) == min(max(round(n * fraction), 1), n - 1)
    assert sorted(np.r_[train, val].tolist()) == list(range(n))
    assert train.tolist() == sorted(train.tolist()) and val.tolist() == sorted(val.tolist())
    assert train.dtype == val.dtype == np.int64
    again = train_val_split(n, val_fraction=fraction, seed=seed)
    assert train.tolist() == again[0].tolist()


def test_random_split_defaults_and_seed() -> None:
    _, val = train_val_split(50)
    assert len(val) == 10
    assert val.tolist() == train_val_split(50, val_fraction=0.2, seed=42)[1].tolist()
    assert val.tolist() != train_val_split(50, seed=43)[1].tolist()
    # the validation rows are a random draw, not the first or last rows
    assert val.tolist() not in (list(range(10)), list(range(40, 50)))
    assert train_val_split(2, val_fraction=0.01)[1].tolist() in ([0], [1])  # at least one
    assert len(train_val_split(3, val_fraction=0.99)[0]) == 1  # at least one to train


@pytest.mark.parametrize(
    ("n", "fraction", "match"),
    [
        (True, 0.2, r"^n must be an integer, got True$"),
        (10.0, 0.2, r"^n must be an integer, got 10\.0$"),
        (1, 0.2, r"^need at least 2 windows to split into train and validation, got n=1$"),
        (0, 0.2, r"got n=0$"),
        (10, True, r"^val_fraction must be a number in \(0, 1\), got True$"),
        (10, "0.2", r"^val_fraction must be a number in \(0, 1\), got '0\.2'$"),
        (10, 0.0, r"^val_fraction must be in \(0, 1\), got 0\.0$"),
        (10, 1.0, r"^val_fraction must be in \(0, 1\), got 1\.0$"),
    ],
)
def test_random_split_rejects_bad_input(n: object, fraction: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        train_val_split(n, val_fraction=fraction)  # type: ignore[arg-type]


def test_numpy_integers_are_integers() -> None:
    train, val = train_val_split(np.int64(10), val_fraction=np.float32(0.3))
    assert len(val) == 3 and len(train) == 7


def test_split_info_reads_as_reported() -> None:
    info = SplitInfo("purged", 80, 15, 5, 2, 3, "shared bars detected: 100 windows in 2 series")
    assert info.describe() == (
        "split: purged, 80 train / 15 validation windows, 5 purged "
        "(shared bars detected: 100 windows in 2 series)"
    )
    assert info.to_dict() == {
        "kind": "purged",
        "n_train": 80,
        "n_val": 15,
        "n_purged": 5,
        "n_series": 2,
        "embargo": 3,
        "detail": "shared bars detected: 100 windows in 2 series",
    }


def windows_of_bar_ids(rows: list[list[int]]) -> np.ndarray:
    """(N, K, 4) windows whose bar with id k is [k, k + 0.5, k - 0.5, k] (distinct per id)."""
    ids = np.asarray(rows, dtype=np.float64)[:, :, None]
    return np.concatenate([ids, ids + 0.5, ids - 0.5, ids], axis=2) + 10.0


def conflicting_group(base: int) -> list[list[int]]:
    """Five windows of K = 12 whose matches disagree once (README: conflicting matches are
    counted and ignored). A, B = x[0:12], x[2:14]; C, D = y[0:12], y[2:14] with y starting
    as x[7:14], so B->C (5 bars on) and A->C agree: C at bar 7, D at 9. But y ends with
    x[0:4], so D->A shares 4 bars 8 bars on: A at 17, against 0. E shares D's last 3 bars:
    a link of 3 bars, joined after the conflict (longest overlaps go first)."""
    x = list(range(base, base + 14))
    y = [*x[7:14], base + 100, base + 101, base + 102, *x[0:4]]
    e = y[11:14] + list(range(base + 200, base + 209))
    return [x[0:12], x[2:14], y[0:12], y[2:14], e]


def test_conflicting_matches_are_counted_and_ignored() -> None:
    layout = detect_series(windows_of_bar_ids(conflicting_group(0)))
    assert layout.conflicts == 1
    assert layout.start_bar.tolist() == [0, 2, 7, 9, 18]
    assert layout.series.tolist() == [0] * 5 and layout.linked.all()
    # two such groups: two series, two conflicts, and every link after a conflict is kept
    layout = detect_series(windows_of_bar_ids(conflicting_group(0) + conflicting_group(1000)))
    assert layout.conflicts == 2 and layout.n_series == 2
    assert layout.start_bar.tolist() == [0, 2, 7, 9, 18] * 2
    assert layout.series.tolist() == [0] * 5 + [1] * 5 and layout.linked.all()
    split = choose_split(unlabelled(windows_of_bar_ids(conflicting_group(0))), val_fraction=0.5)
    assert (
        split.info.detail
        == "shared bars detected: 5 windows in 1 series, 1 conflicting matches ignored"
    )
    assert split.train.tolist() == [0, 1] and split.val.tolist() == [4]  # cut at bar 15


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float64])
def test_start_bars_of_any_number_type_split_alike(dtype: type) -> None:
    """start_bar read as small integers (uint8 from a file) must not wrap around when the
    window length is added to it: the split is the int64 one."""
    starts = np.arange(0, 250, 10)
    window = 30
    expected = chronological_split(starts, window=window, val_fraction=0.3, embargo=5)
    got = chronological_split(starts.astype(dtype), window=window, val_fraction=0.3, embargo=5)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)
    ids = np.zeros(len(starts), dtype=dtype)
    pooled = series_split(starts.astype(dtype), ids, window=window, val_fraction=0.3, embargo=5)
    for a, b in zip(pooled, expected):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- walk-forward folds


def fold_rule(
    starts: np.ndarray, ids: np.ndarray, window: int, folds: int, fold: int, embargo: int
) -> tuple[set[int], set[int]]:
    """Fold ``fold`` (1..folds) by the rule on sets of bars: every series' bars are cut into
    folds + 1 equal spans (rounded); training holds the windows whose bars, and the
    ``embargo`` bars after them, all lie before the fold's span; test, the windows that start
    inside it."""
    train: set[int] = set()
    test: set[int] = set()
    for s in np.unique(ids):
        rows = np.flatnonzero(ids == s)
        bars = set().union(*(range(int(b), int(b) + window) for b in starts[rows]))
        first, end = min(bars), max(bars) + 1
        lo = first + round(fold * (end - first) / (folds + 1))
        hi = first + round((fold + 1) * (end - first) / (folds + 1))
        for r in rows.tolist():
            reach = set(range(int(starts[r]), int(starts[r]) + window + embargo))
            if max(reach) < lo:
                train.add(r)
            if int(starts[r]) in range(lo, hi):
                test.add(r)
    return train, test


@FAST
@given(pooled=pooled_series(), folds=st.integers(1, 4), embargo=st.integers(0, 30))
def test_folds_follow_the_rule(
    pooled: tuple[np.ndarray, np.ndarray, int], folds: int, embargo: int
) -> None:
    starts, ids, window = pooled
    expected = [fold_rule(starts, ids, window, folds, f, embargo) for f in range(1, folds + 1)]
    if any(len(train) < 4 or not test for train, test in expected):
        with pytest.raises(ConfigError, match=r"^fold \d+ of \d+ has \d+ training and \d+ test"):
            fold_indices(starts, ids, window=window, folds=folds, embargo=embargo)
        return
    got = fold_indices(starts, ids, window=window, folds=folds, embargo=embargo)
    assert len(got) == folds
    for (train, test), (want_train, want_test) in zip(got, expected):
        assert train.dtype == test.dtype == np.int64
        assert train.tolist() == sorted(want_train) and test.tolist() == sorted(want_test)
    for (train_a, _), (train_b, _) in itertools.pairwise(got):  # walk-forward: training grows
        assert set(train_a.tolist()) <= set(train_b.tolist())


def test_fold_errors_are_named() -> None:
    starts, ids = np.arange(0, 300, 5), np.zeros(60, dtype=np.int64)
    with pytest.raises(ConfigError, match=r"^folds must be >= 1, got 0$"):
        fold_indices(starts, ids, window=20, folds=0)
    with pytest.raises(ConfigError, match=r"^embargo must be >= 0 bars, got -1$"):
        fold_indices(starts, ids, window=20, folds=2, embargo=-1)
    with pytest.raises(
        ConfigError,
        match=r"^fold 1 of 3 has 1 training and 4 test windows; use fewer folds or more data$",
    ):
        fold_indices(np.arange(0, 70, 5), np.zeros(14, dtype=np.int64), window=20, folds=3)
    assert len(fold_indices(starts, ids, window=20, folds=1)) == 1  # the defaults: no embargo
    np.testing.assert_array_equal(
        fold_indices(starts, ids, window=20, folds=2)[1][0],
        fold_indices(starts, ids, window=20, folds=2, embargo=0)[1][0],
    )


def test_timeline_of_given_start_bars() -> None:
    starts = np.array([5, 0, 10])
    windows = OHLCWindows(np.ones((3, 4, 4)), *(np.zeros(3, np.int64),) * 3, start_bar=starts)
    got_starts, got_series = timeline(windows)
    assert got_starts.tolist() == [5, 0, 10] and got_series.tolist() == [0, 0, 0]
    assert got_series.dtype == np.int64
    pooled = OHLCWindows(
        np.ones((3, 4, 4)), *(np.zeros(3, np.int64),) * 3, start_bar=starts, series=[2, 0, 2]
    )
    assert timeline(pooled)[1].tolist() == [2, 0, 2]


def test_timeline_of_detected_and_lone_windows() -> None:
    """Detected series keep their numbers (made contiguous); windows sharing nothing become
    one more series, one window after another in row order."""
    window = 10
    series = cut_windows(random_walk_series(40, seed=20), np.arange(0, 25, 5), window)
    lone = random_walk_series(3 * window, seed=21).reshape(3, window, 4) * 3.0
    ohlc = np.concatenate([lone[:1], series, lone[1:]])
    starts, ids = timeline(unlabelled(ohlc))
    assert ids.tolist() == [1, 0, 0, 0, 0, 0, 1, 1]
    assert starts.tolist() == [0, 0, 5, 10, 15, 20, 10, 20]
    only_lone = timeline(unlabelled(lone))
    assert only_lone[1].tolist() == [0, 0, 0] and only_lone[0].tolist() == [0, 10, 20]
    two = np.concatenate([series, cut_windows(random_walk_series(40, seed=22) * 2, [0, 4], window)])
    assert timeline(unlabelled(two))[1].tolist() == [0] * 5 + [1, 1]
