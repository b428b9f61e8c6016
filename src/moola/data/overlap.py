"""Shared bars between pre-cut windows: find them and recover the series they were cut from.

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

The split itself, which uses the recovered timeline, is :func:`moola.data.splits.choose_split`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: A shared run must hold at least this many different bars to link two windows.
MIN_DISTINCT_SHARED = 3


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


#: splitmix64's multipliers: a 64-bit mix in which every input bit moves every output bit.
_MIX_A, _MIX_B = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_HASH_SEED = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    x = (x ^ (x >> np.uint64(30))) * _MIX_A
    x = (x ^ (x >> np.uint64(27))) * _MIX_B
    return x ^ (x >> np.uint64(31))


def bar_hashes(ohlc: np.ndarray) -> np.ndarray:
    """(..., K) a 64-bit hash per bar of (..., K, 4) OHLC: the bar identity of
    :func:`_bar_ids` (bit-equal open, high, low, close as float64; -0.0 as 0.0) in a form
    that can be kept and compared across files and runs (``moola.data.seen``)."""
    bars = np.ascontiguousarray(ohlc, dtype=np.float64) + 0.0  # -0.0 + 0.0 is +0.0
    words = bars.view(np.uint64)
    h = np.full(words.shape[:-1], _HASH_SEED, dtype=np.uint64)
    for i in range(words.shape[-1]):
        h = _mix(h ^ words[..., i])
    return h


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
