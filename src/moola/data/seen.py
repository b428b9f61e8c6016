"""The bars a run trained and validated on, kept small, and the windows of other data that
share them: what lets ``moola predict`` tell in-sample windows from held-out ones.

A run records the set of its training and validation windows' bars as sorted 64-bit bar
hashes (:func:`moola.data.overlap.bar_hashes`: bit-equal OHLC), 8 bytes per distinct bar:
about 24 KB for a 3,000-bar series, whatever the stride it was cut at. A window of other
data *shares bars* with the run when at least :data:`MIN_SHARED` of its distinct bars are in
the set (all of them, for a window of fewer distinct bars), the rule of
:mod:`moola.data.overlap`, so that a flat stretch (one price repeated) never marks a window
by chance. The check needs neither ``start_bar`` nor the stride: a file without
``start_bar``, or the raw series cut again at another stride, is recognised all the same.
"""

from __future__ import annotations

import numpy as np

from moola.data.overlap import MIN_DISTINCT_SHARED, bar_hashes
from moola.data.windows import OHLCWindows

#: Distinct shared bars that make a window in-sample (fewer only for a window of fewer).
MIN_SHARED = MIN_DISTINCT_SHARED
#: Windows hashed at a time (the hashes of one chunk: 8 bytes per bar).
CHUNK = 4096


def sorted_distinct(values: np.ndarray) -> np.ndarray:
    """``values`` sorted, each once (``np.unique``'s result; a plain sort is much faster on
    integers than ``np.unique`` in numpy 2.4: 1.5 ms against 1 s for 430k hashes)."""
    ordered = np.sort(values.reshape(-1))
    keep = np.ones(len(ordered), dtype=bool)
    keep[1:] = ordered[1:] != ordered[:-1]
    return ordered[keep]


def record_bars(windows: OHLCWindows, rows: np.ndarray) -> np.ndarray:
    """The sorted distinct bar hashes (int64) of ``windows``' rows ``rows``."""
    parts = [np.zeros(0, dtype=np.uint64)]
    rows = np.asarray(rows, dtype=np.int64)
    for a in range(0, len(rows), CHUNK):
        parts.append(sorted_distinct(bar_hashes(windows.ohlc[rows[a : a + CHUNK]])))
    return sorted_distinct(np.concatenate(parts)).view(np.int64)


def shared_bars(record: np.ndarray, ohlc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per window of (N, K, 4) ``ohlc``: how many of its distinct bars are in ``record``, and
    how many distinct bars it has."""
    known = np.asarray(record).view(np.uint64)  # sorted as uint64 (np.unique's order)
    shared = np.zeros(len(ohlc), dtype=np.int64)
    distinct = np.zeros(len(ohlc), dtype=np.int64)
    for i in range(0, len(ohlc), CHUNK):
        bars = np.sort(bar_hashes(ohlc[i : i + CHUNK]), axis=1)
        first = np.ones(bars.shape, dtype=bool)  # each distinct bar of a window once
        first[:, 1:] = bars[:, 1:] != bars[:, :-1]
        if len(known):
            at = np.minimum(np.searchsorted(known, bars), len(known) - 1)
            member = known[at] == bars
        else:
            member = np.zeros(bars.shape, dtype=bool)
        distinct[i : i + len(bars)] = first.sum(axis=1)
        shared[i : i + len(bars)] = (first & member).sum(axis=1)
    return shared, distinct


def seen_windows(record: np.ndarray, ohlc: np.ndarray) -> np.ndarray:
    """(N,) bool: the windows of ``ohlc`` that share bars with ``record`` (module docstring)."""
    shared, distinct = shared_bars(record, ohlc)
    return shared >= np.minimum(MIN_SHARED, distinct)
