"""Lay windows back onto their series: each shared bar once, each window a start into the bars.

Windows carry where they sit (``start_bar``, with ``series`` when pooled), or the overlap
detection recovers it (:func:`moola.data.overlap.detect_series`). Here the windows of each
series are sorted by start and joined into *segments*, runs of consecutive bars with no gap
(windows that overlap or touch; a gap starts a new segment, so a recursion never runs
across missing bars). All segments are concatenated into one (T, 4) array of bars, and each
window becomes the index of its first bar in it (its *global start*).

Every window is then checked against the bars it points at, exactly. A window whose bars
differ from its series' (a file whose ``start_bar`` means something else, two series under
one id) is not trusted to share: it becomes a segment of its own, with its own bars, and is
counted in ``conflicts``. So every window's stored bars are its own bars, whatever the file
says.

With ``window`` inputs every window is its own segment (its bars stored once per window).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from moola.data.overlap import SeriesLayout, detect_series
from moola.data.windows import OHLCWindows

#: Windows written or checked at a time (bounds the (rows, K) index arrays).
CHUNK_WINDOWS = 4096


@dataclass(frozen=True)
class BarLayout:
    """Segments of bars and each window's global start."""

    offsets: np.ndarray  # (S + 1,) int64: segment s holds bars offsets[s]..offsets[s+1]-1
    starts: np.ndarray  # (N,) int64: each window's first bar in the concatenated bars
    conflicts: int  # windows whose bars disagreed with their series' (stored on their own)

    @property
    def n_bars(self) -> int:
        return int(self.offsets[-1])

    @property
    def n_segments(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)


def series_keys(
    windows: OHLCWindows, semantics: str, layout: SeriesLayout | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Each window's (series key, start bar in that series), by what the windows say.

    ``window`` semantics: every window is its own series. Otherwise ``start_bar`` (with
    ``series`` when pooled), or else the detected layout (windows that share nothing get a
    series each).
    """
    n = len(windows)
    rows = np.arange(n, dtype=np.int64)
    if semantics == "window":
        return rows, np.zeros(n, dtype=np.int64)
    if windows.start_bar is not None:
        series = windows.series if windows.series is not None else np.zeros(n, dtype=np.int64)
        return series.astype(np.int64), windows.start_bar.astype(np.int64)
    found = layout if layout is not None else detect_series(windows.ohlc)
    lone = ~found.linked
    keys = found.series.astype(np.int64).copy()
    keys[lone] = found.n_series + rows[lone]  # a series of its own
    position = np.where(lone, 0, found.start_bar).astype(np.int64)
    return keys, position


def plan_segments(keys: np.ndarray, position: np.ndarray, window: int) -> BarLayout:
    """Segments and global starts of windows at ``position`` in series ``keys`` (no checks)."""
    n = len(keys)
    if n == 0:
        return BarLayout(np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64), 0)
    order = np.lexsort((position, keys))
    k, p = keys[order], position[order]
    new = np.ones(n, dtype=bool)
    new[1:] = (k[1:] != k[:-1]) | (p[1:] > p[:-1] + window)  # another series, or a gap
    segment = np.cumsum(new) - 1
    first = p[new]  # the first window's start bar of each segment
    # the last start of each segment: windows are sorted, so it is the segment's last row
    last = p[np.r_[np.flatnonzero(new)[1:] - 1, n - 1]]
    lengths = last - first + window
    offsets = np.zeros(len(first) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    starts = np.empty(n, dtype=np.int64)
    starts[order] = offsets[segment] + (p - first[segment])
    return BarLayout(offsets, starts, 0)


def window_view(bars: np.ndarray, window: int) -> np.ndarray:
    """A read-only (T - K + 1, K, 4) view of (T, 4) bars: row s is the window starting at
    bar s (indexing it copies whole windows, several times faster than a (N, K) gather)."""
    rows, width = bars.strides
    return np.lib.stride_tricks.as_strided(
        bars,
        shape=(len(bars) - window + 1, window, 4),
        strides=(rows, rows, width),
        writeable=False,
    )


def fill_bars(ohlc: np.ndarray, starts: np.ndarray, n_bars: int) -> tuple[np.ndarray, np.ndarray]:
    """The (T, 4) bars, each taken from the earliest window that covers it, and a mask of the
    windows whose own bars differ from what is stored (checked exactly, every bar)."""
    n, k = ohlc.shape[:2]
    order = np.argsort(starts, kind="stable")
    first_bar = starts[order]
    # the earliest window covering bar g is the first (by start) whose last bar is >= g; in a
    # segment without gaps it starts at or before g
    owner = np.searchsorted(first_bar + (k - 1), np.arange(n_bars), side="left")
    bars = ohlc[order[owner], np.arange(n_bars) - first_bar[owner]]
    differs = np.zeros(n, dtype=bool)
    windows = window_view(bars, k)
    for a in range(0, n, CHUNK_WINDOWS):
        b = min(n, a + CHUNK_WINDOWS)
        stored = windows[starts[a:b]].view(np.int64)  # bit for bit: NaN equals NaN
        own = np.ascontiguousarray(ohlc[a:b]).view(np.int64)
        differs[a:b] = (stored != own).any(axis=(1, 2))
    return bars, differs


def lay_out(
    windows: OHLCWindows, semantics: str, layout: SeriesLayout | None = None
) -> tuple[BarLayout, np.ndarray, np.ndarray, np.ndarray]:
    """The bar layout of ``windows``, its (T, 4) float64 bars, and each window's series key
    and start bar as the source gave them (:func:`series_keys`; see the module docstring)."""
    k = windows.window
    keys, position = series_keys(windows, semantics, layout)
    if semantics == "window":  # every window its own segment, in row order: nothing to check
        n = len(windows)
        offsets = np.arange(n + 1, dtype=np.int64) * k
        bars = windows.ohlc.reshape(n * k, 4)
        return BarLayout(offsets, offsets[:-1].copy(), 0), bars, keys, position
    alone = np.zeros(len(windows), dtype=bool)
    while True:
        # a window that disagrees with its series becomes a series of its own, and the rest
        # are laid out again (its bars may have been the ones that others were checked against)
        own_keys = np.where(alone, keys.max(initial=0) + 1 + np.arange(len(keys)), keys)
        plan = plan_segments(own_keys, np.where(alone, 0, position), k)
        bars, differs = fill_bars(windows.ohlc, plan.starts, plan.n_bars)
        if not differs.any():
            return BarLayout(plan.offsets, plan.starts, int(alone.sum())), bars, keys, position
        alone |= differs
