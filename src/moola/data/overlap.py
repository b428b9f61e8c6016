"""Shared bars between pre-cut windows: find them, recover the series, split without leaking.

Pre-cut files (the original parquet schema, a pair of CSVs) carry no ``start_bar``, yet they
are usually cut from one series every few bars, so neighbours share most of their bars. A
random split then puts nearly every validation window's twin in training, and every head
looks "learned". This module finds windows that share bars and lays them back on a
timeline:

* **Detection.** Window ``j`` starts ``d`` bars after window ``i`` when the last ``K − d``
  bars of ``i`` equal the first ``K − d`` bars of ``j`` exactly (all four prices). A match
  counts only when the shared run holds at least ``min_distinct`` *different* bars, so flat
  stretches (the same bar repeated, as in quiet 1-minute data) never link windows by chance.
* **Timeline.** Matches are joined longest-overlap first by a union-find that keeps each
  window's offset from its component's root; a later match that disagrees with the offsets
  already fixed is counted (``conflicts``) and ignored. Each component is one series; its
  first window gets ``start_bar`` 0.
* **Split.** Every series is cut on its own by the rule of
  :func:`moola.data.chronological_split` (its last ``val_fraction`` of bars is validation,
  windows straddling the cut are purged, and an ``embargo`` of bars before the cut purges
  training windows that end too close to it). Windows that share nothing with any other keep
  the seeded random split among themselves.

Windows that carry ``start_bar`` need no detection: one series gets
:func:`chronological_split`, pooled series (``start_bar`` and ``series``,
:mod:`moola.data.pooled`) get :func:`series_split`. With one series and no embargo the
detected split is exactly :func:`chronological_split`'s, so a
labelled series whose ``start_bar`` was dropped (or whose rows were shuffled) is split as
if ``start_bar`` were there.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from moola.data.splits import (
    check_split_settings,
    chronological_split,
    purged_masks,
    train_val_split,
)
from moola.data.windows import OHLCWindows
from moola.errors import ConfigError

#: A shared run must hold at least this many different bars to link two windows.
MIN_DISTINCT_SHARED = 3
#: Bars between the cut and the last training bar (0: purging alone; windows never share bars).
DEFAULT_EMBARGO = 0


@dataclass(frozen=True)
class SeriesLayout:
    """Where each window sits: ``series`` id and ``start_bar`` within that series, per row."""

    series: np.ndarray  # (N,) int64, 0..n_series-1, numbered by first row
    start_bar: np.ndarray  # (N,) int64, offset of the window's first bar in its series
    linked: np.ndarray  # (N,) bool: the window shares bars with at least one other
    conflicts: int  # matches that disagreed with the offsets already fixed (ignored)

    @property
    def n_series(self) -> int:
        return int(self.series.max()) + 1 if len(self.series) else 0

    @property
    def any_shared(self) -> bool:
        return bool(self.linked.any())


def _bar_ids(ohlc: np.ndarray) -> np.ndarray:
    """(N, K) integer id per bar; equal ids mean bit-equal (open, high, low, close)."""
    n, k = ohlc.shape[:2]
    bars = np.ascontiguousarray(ohlc, dtype=np.float64).reshape(n * k, 4)
    _, inverse = np.unique(bars, axis=0, return_inverse=True)
    return np.asarray(inverse, dtype=np.int64).reshape(n, k)


def _matches(ids: np.ndarray, min_distinct: int) -> list[tuple[int, int, int, int]]:
    """Every (overlap, i, j, d): window j starts d >= 0 bars after window i, sharing K - d bars."""
    n, k = ids.shape
    flat = ids.reshape(-1)
    order = np.argsort(flat, kind="stable")
    sorted_ids = flat[order]
    padded = np.full((n, 2 * k), -1, dtype=np.int64)
    padded[:, :k] = ids
    bars = np.arange(k)
    found: list[tuple[int, int, int, int]] = []
    for j in range(n):
        lo, hi = np.searchsorted(sorted_ids, [ids[j, 0], ids[j, 0] + 1])
        cand = order[lo:hi]
        i, d = cand // k, cand % k
        keep = (i != j) & ((d > 0) | (i < j)) & (k - d >= min_distinct)
        i, d = i[keep], d[keep]
        if len(i) == 0:
            continue
        shifted = padded[i[:, None], d[:, None] + bars[None, :]]
        inside = bars[None, :] < (k - d)[:, None]
        equal = ((shifted == ids[j][None, :]) | ~inside).all(axis=1)
        for ii, dd in zip(i[equal].tolist(), d[equal].tolist()):
            if len(np.unique(ids[j, : k - dd])) >= min_distinct:
                found.append((k - dd, ii, j, dd))
    return found


def detect_series(ohlc: np.ndarray, *, min_distinct: int = MIN_DISTINCT_SHARED) -> SeriesLayout:
    """Recover series and offsets of windows that share bars (see the module docstring)."""
    arr = np.asarray(ohlc, dtype=np.float64)
    n = arr.shape[0]
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return SeriesLayout(empty, empty, np.zeros(0, dtype=bool), 0)
    ids = _bar_ids(arr)
    parent = np.arange(n)
    offset = np.zeros(n, dtype=np.int64)  # start[x] = start[parent[x]] + offset[x]

    def locate(x: int) -> tuple[int, int]:
        """(root, start[x] - start[root]), compressing the path on the way."""
        path = []
        while parent[x] != x:
            path.append(x)
            x = int(parent[x])
        total = 0
        for node in reversed(path):  # nearest the root first: offsets add up outward
            total += int(offset[node])
            offset[node] = total
            parent[node] = x
        return x, int(offset[path[0]]) if path else 0

    conflicts = 0
    linked = np.zeros(n, dtype=bool)
    # Longest overlaps first: they are the least likely to be chance matches.
    for _, i, j, d in sorted(_matches(ids, min_distinct), key=lambda m: (-m[0], m[1], m[2])):
        ri, oi = locate(i)
        rj, oj = locate(j)
        if ri != rj:
            parent[rj] = ri
            offset[rj] = oi + d - oj
        elif oj - oi != d:
            conflicts += 1
            continue
        linked[i] = linked[j] = True
    roots = np.array([locate(x)[0] for x in range(n)])
    starts = np.array([locate(x)[1] for x in range(n)], dtype=np.int64)
    _, first_row, series = np.unique(roots, return_index=True, return_inverse=True)
    renumber = np.argsort(np.argsort(first_row))  # series numbered by their first row
    series = renumber[series].astype(np.int64)
    for s in range(int(series.max()) + 1):
        rows = series == s
        starts[rows] -= starts[rows].min()
    return SeriesLayout(series, starts, linked, conflicts)


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
    get the seeded random :func:`train_val_split` (see :mod:`moola.data.overlap`).
    """
    split = choose_split(windows, val_fraction=val_fraction, seed=seed)
    return split.train, split.val
