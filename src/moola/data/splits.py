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


def choose_split(
    windows: OHLCWindows,
    *,
    val_fraction: float = 0.2,
    seed: int = 42,
    embargo: int = DEFAULT_EMBARGO,
    layout: SeriesLayout | None = None,
) -> Split:
    """The split moola trains with, and its report.

    ``start_bar`` given: :func:`chronological_split` (with ``embargo``). No
    ``start_bar``: shared bars are detected; windows that share bars are split series by
    series (purged, embargoed), windows that share nothing get the seeded random split.
    """
    n, k = len(windows), windows.window
    if windows.start_bar is not None and windows.series is not None:  # pooled series
        starts, ids = windows.start_bar, windows.series
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
    if windows.start_bar is not None:
        starts = windows.start_bar
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
    layout = layout if layout is not None else detect_series(windows.ohlc)
    if not layout.any_shared:
        train, val = train_val_split(n, val_fraction=val_fraction, seed=seed)
        info = SplitInfo("random", len(train), len(val), 0, 0, 0, "no windows share bars")
        return Split(train, val, np.arange(len(val)), 1, info)
    linked = np.flatnonzero(layout.linked)
    lone = np.flatnonzero(~layout.linked)
    tr, va = series_split(
        layout.start_bar[linked],
        layout.series[linked],
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
    order = np.lexsort((layout.start_bar[val], layout.series[val]))
    runs = [
        overlap_run(layout.start_bar[val][layout.series[val] == s], k)
        for s in np.unique(layout.series[val])
    ]
    n_series = len(np.unique(layout.series[linked]))
    detail = (
        f"shared bars detected: {len(linked)} windows in {n_series} series"
        + (f", {len(lone)} independent" if len(lone) else "")
        + (f", {layout.conflicts} conflicting matches ignored" if layout.conflicts else "")
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
    n, k = len(windows), windows.window
    if windows.start_bar is not None:
        series = windows.series if windows.series is not None else np.zeros(n, dtype=np.int64)
        return windows.start_bar, series
    layout = detect_series(windows.ohlc)
    # Windows that share no bars: row order is their time order, one window after another,
    # as one more series beside the recovered ones.
    lone = ~layout.linked
    starts, series = layout.start_bar.copy(), layout.series.copy()
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
