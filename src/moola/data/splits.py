"""Every rule that splits windows into training and held-out parts, in one place.

* :func:`train_val_split`: seeded random, for windows that share no bars;
* :func:`purged_masks` / :func:`chronological_split`: one series cut in time, its last
  ``val_fraction`` of bars held out, the windows straddling the cut purged and an
  ``embargo`` of bars kept free before it;
* :func:`series_split`: the same rule for every series of a pooled or recovered data set;
* :func:`choose_split`: the split moola trains with. Windows with ``start_bar`` are cut in
  time; pre-cut windows that share bars are laid back on the timeline recovered from them
  (:mod:`moola.data.overlap`) and cut series by series; windows that share nothing keep
  the seeded random split among themselves. With one series and no embargo the detected
  split is exactly :func:`chronological_split`'s, so a labelled series whose ``start_bar``
  was dropped (or whose rows were shuffled) is split as if ``start_bar`` were there;
* :func:`timeline` / :func:`fold_indices`: walk-forward folds in time (``--folds K``).
"""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from moola.data.overlap import SeriesLayout, detect_series
from moola.data.windows import OHLCWindows
from moola.errors import ConfigError

#: Bars between the cut and the last training bar (0: purging alone; windows never share bars).
DEFAULT_EMBARGO = 0


def train_val_split(
    n: int, *, val_fraction: float = 0.2, seed: int = 42
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of ``range(n)`` into sorted, disjoint (train, val) index arrays covering all.

    The validation size is ``round(n * val_fraction)`` kept within ``[1, n - 1]`` so both
    parts are non-empty.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise ConfigError(f"n must be an integer, got {n!r}")
    if n < 2:
        raise ConfigError(f"need at least 2 windows to split into train and validation, got n={n}")
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, numbers.Real):
        raise ConfigError(f"val_fraction must be a number in (0, 1), got {val_fraction!r}")
    if not 0.0 < float(val_fraction) < 1.0:
        raise ConfigError(f"val_fraction must be in (0, 1), got {val_fraction}")
    n_val = min(max(round(n * float(val_fraction)), 1), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_val:]).astype(np.int64), np.sort(order[:n_val]).astype(np.int64)


def purged_masks(
    starts: np.ndarray, *, window: int, val_fraction: float, embargo: int = 0
) -> tuple[np.ndarray, np.ndarray, int]:
    """The rule of the chronological split, for the windows of one series: boolean (train,
    val) masks and the cut bar.

    The series runs from the first window's first bar to the last window's last bar; the
    cut is placed so that its last ``val_fraction`` of bars is validation. Validation holds
    the windows that start at or after the cut; training holds the windows that end at least
    ``embargo`` bars before it. Windows in between are dropped (purged), so no validation
    window shares a bar with a training window.
    """
    first, end = int(starts.min()), int(starts.max()) + window
    cut = end - round((end - first) * float(val_fraction))
    return starts + window + embargo <= cut, starts >= cut, cut


def check_split_settings(val_fraction: float, embargo: int = 0) -> None:
    if embargo < 0:
        raise ConfigError(f"embargo must be >= 0 bars, got {embargo}")
    if not 0.0 < float(val_fraction) < 1.0:
        raise ConfigError(f"val_fraction must be in (0, 1), got {val_fraction}")


def chronological_split(
    start_bar: np.ndarray, *, window: int, val_fraction: float = 0.2, embargo: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Purged chronological split of windows cut from one series (honest on overlapping
    windows), by :func:`purged_masks`. Returns sorted (train, val) index arrays; a split that
    leaves either side empty is an error."""
    starts = np.asarray(start_bar, dtype=np.int64)
    check_split_settings(val_fraction, embargo)
    train_mask, val_mask, cut = purged_masks(
        starts, window=window, val_fraction=val_fraction, embargo=embargo
    )
    train, val = np.flatnonzero(train_mask), np.flatnonzero(val_mask)
    if len(val) == 0 or len(train) == 0:
        raise ConfigError(
            f"a chronological split at bar {cut} of bars {int(starts.min())}.."
            f"{int(starts.max()) + window - 1} leaves {len(train)} training and {len(val)} "
            "validation windows; use more data or another val_fraction"
        )
    return train.astype(np.int64), val.astype(np.int64)


@dataclass(frozen=True)
class SplitInfo:
    """How the windows were split, as ``metrics.json`` and the printout report it."""

    kind: str  # "chronological" (start_bar given), "purged" (shared bars detected), "random"
    n_train: int
    n_val: int
    n_purged: int
    n_series: int
    embargo: int
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        return (
            f"split: {self.kind}, {self.n_train} train / {self.n_val} validation windows, "
            f"{self.n_purged} purged ({self.detail})"
        )


@dataclass(frozen=True)
class Split:
    """Train and validation row indices, the validation rows in time order, and the report."""

    train: np.ndarray
    val: np.ndarray
    #: Positions into ``val`` in time order (series by series): the bootstrap's blocks follow it.
    val_order: np.ndarray
    #: The most validation windows that start within one window's span (1: independent):
    #: the bootstrap's shortest block.
    overlap_run: int
    info: SplitInfo


def series_split(
    start_bar: np.ndarray,
    series: np.ndarray,
    *,
    window: int,
    val_fraction: float = 0.2,
    embargo: int = DEFAULT_EMBARGO,
) -> tuple[np.ndarray, np.ndarray]:
    """Purged chronological split of every series on its own (the rule of
    :func:`moola.data.splits.purged_masks`); a series may leave one side empty."""
    check_split_settings(val_fraction, embargo)
    starts = np.asarray(start_bar, dtype=np.int64)
    ids = np.asarray(series, dtype=np.int64)
    train_mask = np.zeros(len(starts), dtype=bool)
    val_mask = np.zeros(len(starts), dtype=bool)
    for s in np.unique(ids):
        rows = ids == s
        train_rows, val_rows, _ = purged_masks(
            starts[rows], window=window, val_fraction=val_fraction, embargo=embargo
        )
        train_mask[rows], val_mask[rows] = train_rows, val_rows
    return np.flatnonzero(train_mask).astype(np.int64), np.flatnonzero(val_mask).astype(np.int64)


def overlap_run(starts: np.ndarray, window: int) -> int:
    """The most windows of one series whose first bars lie within one window's span."""
    s = np.sort(starts)
    if len(s) == 0:
        return 1
    return int((np.searchsorted(s, s + window, side="left") - np.arange(len(s))).max())


@dataclass(frozen=True)
class Timeline:
    """Where each window sits in time, as the split and the folds cut on it.

    ``kind``: ``series`` (``start_bar`` and ``series`` given: pooled series), ``start_bar``
    (one series), or ``detected`` (pre-cut windows laid back on the series recovered from
    their shared bars, :func:`moola.data.overlap.detect_series`; ``linked`` marks the windows
    that share bars with another, the others share nothing). Made once per data set
    (:func:`timeline_of`), so that detection runs once for the split, the folds and the store.
    """

    kind: str
    start_bar: np.ndarray  # (N,) int64: offset of each window's first bar in its series
    series: np.ndarray  # (N,) int64: series id
    linked: np.ndarray  # (N,) bool: shares bars with another window (True unless detected)
    window: int
    conflicts: int = 0  # detected matches that disagreed with the offsets fixed (ignored)

    def __len__(self) -> int:
        return len(self.start_bar)

    @property
    def any_shared(self) -> bool:
        return bool(self.linked.any())

    def subset(self, index: np.ndarray) -> Timeline:
        """The timeline of the windows ``index`` (a fold's training part), as a data set of
        those windows alone would have it: detected series renumbered by their first row and
        starting at bar 0, and ``linked`` only where a window of the subset still shares bars."""
        idx = np.asarray(index, dtype=np.int64)
        starts, series = self.start_bar[idx], self.series[idx]
        if self.kind != "detected":
            return Timeline(self.kind, starts, series, self.linked[idx], self.window)
        linked = self.linked[idx].copy()
        if len(idx):
            order = np.lexsort((starts, series))
            s, p = series[order], starts[order]
            same = s[1:] == s[:-1]
            close = same & (p[1:] - p[:-1] < self.window)  # neighbours in time share bars
            near = np.zeros(len(idx), dtype=bool)
            near[:-1] |= close
            near[1:] |= close
            linked[order] &= near
        # a series numbered by its first row, its bars from its first window's start
        _, first, inverse = np.unique(series, return_index=True, return_inverse=True)
        renumber = np.argsort(np.argsort(first))
        series = renumber[inverse].astype(np.int64)
        lowest = np.full(len(first), np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(lowest, series, starts)
        return Timeline(
            "detected", starts - lowest[series], series, linked, self.window, self.conflicts
        )


def timeline_of(windows: OHLCWindows, layout: SeriesLayout | None = None) -> Timeline:
    """The timeline of ``windows``: ``start_bar`` (with ``series``) when given, else the
    series recovered from shared bars (``layout``, when the caller detected it already)."""
    n, k = len(windows), windows.window
    if windows.start_bar is not None:
        given = windows.series is not None
        series = windows.series if given else np.zeros(n, dtype=np.int64)
        assert series is not None
        kind = "series" if given else "start_bar"
        return Timeline(kind, windows.start_bar, series, np.ones(n, dtype=bool), k)
    layout = layout if layout is not None else detect_series(windows.ohlc)
    return Timeline("detected", layout.start_bar, layout.series, layout.linked, k, layout.conflicts)


def choose_split(
    windows: OHLCWindows,
    *,
    val_fraction: float = 0.2,
    seed: int = 42,
    embargo: int = DEFAULT_EMBARGO,
    layout: SeriesLayout | None = None,
) -> Split:
    """The split moola trains with, and its report (:func:`split_timeline` of the windows'
    :func:`timeline_of`)."""
    timeline = timeline_of(windows, layout)
    return split_timeline(timeline, val_fraction=val_fraction, seed=seed, embargo=embargo)


def split_timeline(
    timeline: Timeline,
    *,
    val_fraction: float = 0.2,
    seed: int = 42,
    embargo: int = DEFAULT_EMBARGO,
) -> Split:
    """The split of windows on ``timeline``, and its report.

    ``start_bar`` given: :func:`chronological_split` (with ``embargo``), each series on its
    own when pooled. Detected: windows that share bars are split series by series (purged,
    embargoed), windows that share nothing get the seeded random split.
    """
    n, k = len(timeline), timeline.window
    starts, ids = timeline.start_bar, timeline.series
    if timeline.kind == "series":  # pooled series
        train, val = series_split(starts, ids, window=k, val_fraction=val_fraction, embargo=embargo)
        if len(train) == 0 or len(val) == 0:
            raise ConfigError(
                f"the chronological split of {n} pooled windows leaves {len(train)} training "
                f"and {len(val)} validation windows; use more data or another val_fraction"
            )
        order = np.lexsort((starts[val], ids[val]))
        n_series = len(np.unique(ids))
        info = SplitInfo(
            "chronological",
            len(train),
            len(val),
            n - len(train) - len(val),
            n_series,
            embargo,
            f"start_bar and series given: {n_series} series, each cut on its own",
        )
        runs = [overlap_run(starts[val][ids[val] == s], k) for s in np.unique(ids[val])]
        return Split(train, val, order, max(runs), info)
    if timeline.kind == "start_bar":
        train, val = chronological_split(
            starts, window=k, val_fraction=val_fraction, embargo=embargo
        )
        order = np.argsort(starts[val], kind="stable")
        info = SplitInfo(
            "chronological",
            len(train),
            len(val),
            n - len(train) - len(val),
            1,
            embargo,
            "start_bar given",
        )
        return Split(train, val, order, overlap_run(starts[val], k), info)
    if not timeline.any_shared:
        train, val = train_val_split(n, val_fraction=val_fraction, seed=seed)
        info = SplitInfo("random", len(train), len(val), 0, 0, 0, "no windows share bars")
        return Split(train, val, np.arange(len(val)), 1, info)
    linked = np.flatnonzero(timeline.linked)
    lone = np.flatnonzero(~timeline.linked)
    tr, va = series_split(
        starts[linked],
        ids[linked],
        window=k,
        val_fraction=val_fraction,
        embargo=embargo,
    )
    train_parts, val_parts = [linked[tr]], [linked[va]]
    if len(lone) >= 2:
        ltr, lva = train_val_split(len(lone), val_fraction=val_fraction, seed=seed)
        train_parts.append(lone[ltr])
        val_parts.append(lone[lva])
    elif len(lone) == 1:
        train_parts.append(lone)
    train = np.sort(np.concatenate(train_parts)).astype(np.int64)
    val = np.sort(np.concatenate(val_parts)).astype(np.int64)
    if len(train) == 0 or len(val) == 0:
        raise ConfigError(
            f"the purged split of {n} windows that share bars leaves {len(train)} training and "
            f"{len(val)} validation windows; use more data or another val_fraction"
        )
    order = np.lexsort((starts[val], ids[val]))
    runs = [overlap_run(starts[val][ids[val] == s], k) for s in np.unique(ids[val])]
    n_series = len(np.unique(ids[linked]))
    detail = (
        f"shared bars detected: {len(linked)} windows in {n_series} series"
        + (f", {len(lone)} independent" if len(lone) else "")
        + (f", {timeline.conflicts} conflicting matches ignored" if timeline.conflicts else "")
    )
    info = SplitInfo(
        "purged", len(train), len(val), n - len(train) - len(val), n_series, embargo, detail
    )
    return Split(train, val, order, max(runs), info)


def split_windows(
    windows: OHLCWindows, *, val_fraction: float = 0.2, seed: int = 42
) -> tuple[np.ndarray, np.ndarray]:
    """The train/validation split moola trains with.

    Windows that carry ``start_bar`` (cut from one series, possibly overlapping) get the
    purged :func:`chronological_split`; pre-cut windows that share bars get the same split
    on the timeline recovered from the shared bars; windows that share nothing (synthetic)
    get the seeded random :func:`train_val_split` (see the module docstring).
    """
    split = choose_split(windows, val_fraction=val_fraction, seed=seed)
    return split.train, split.val


def timeline(windows: OHLCWindows) -> tuple[np.ndarray, np.ndarray]:
    """(start_bar, series) per window: given, recovered from shared bars, or row order."""
    return fold_timeline(timeline_of(windows))


def fold_timeline(timeline: Timeline) -> tuple[np.ndarray, np.ndarray]:
    """(start_bar, series) per window for the walk-forward folds: as the timeline has them;
    detected windows that share no bars are taken in row order, one window after another, as
    one more series beside the recovered ones."""
    if timeline.kind != "detected":
        return timeline.start_bar, timeline.series
    k = timeline.window
    lone = ~timeline.linked
    starts, series = timeline.start_bar.copy(), timeline.series.copy()
    if lone.any():
        _, series[~lone] = np.unique(series[~lone], return_inverse=True)
        series[lone] = int(series[~lone].max()) + 1 if (~lone).any() else 0
        starts[lone] = np.arange(int(lone.sum()), dtype=np.int64) * k
    return starts, series


def fold_indices(
    start_bar: np.ndarray,
    series: np.ndarray,
    *,
    window: int,
    folds: int,
    embargo: int = DEFAULT_EMBARGO,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per fold, sorted (train, test) row indices; no test window shares a bar with training."""
    if folds < 1:
        raise ConfigError(f"folds must be >= 1, got {folds}")
    if embargo < 0:
        raise ConfigError(f"embargo must be >= 0 bars, got {embargo}")
    starts, ids = np.asarray(start_bar, dtype=np.int64), np.asarray(series, dtype=np.int64)
    out = []
    for f in range(1, folds + 1):
        train = np.zeros(len(starts), dtype=bool)
        test = np.zeros(len(starts), dtype=bool)
        for s in np.unique(ids):
            rows = ids == s
            first, end = int(starts[rows].min()), int(starts[rows].max()) + window
            edges = [first + round(i * (end - first) / (folds + 1)) for i in range(folds + 2)]
            train |= rows & (starts + window + embargo <= edges[f])
            test |= rows & (starts >= edges[f]) & (starts < edges[f + 1])
        train_idx, test_idx = np.flatnonzero(train), np.flatnonzero(test)
        if len(train_idx) < 4 or len(test_idx) == 0:
            raise ConfigError(
                f"fold {f} of {folds} has {len(train_idx)} training and {len(test_idx)} test "
                "windows; use fewer folds or more data"
            )
        out.append((train_idx.astype(np.int64), test_idx.astype(np.int64)))
    return out
