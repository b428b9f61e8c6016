"""The per-bar feature columns of series, computed by the feature registry's own group code.

Two paths, one result (the registry's definitions, bit for bit):

- **Series of one length** (pre-cut windows that share nothing, or ``window`` inputs, where
  every window is its own series): the window builder's layout, bar-major (K, N) columns with
  one numpy call per bar on a row of series, as :func:`moola.data.build_features` does.
- **A long series**: its three recursions are scanned along it on Python floats
  (:mod:`moola.data.store.scan`), block by block; each block's other features are then the
  registry's vectorised group code on that block as one (n, 1) column, with the scanned
  recursions handed in (:class:`ScannedCandles`). A block starts ``lead`` bars early, so the
  look-backs (the 10-bar width, the previous close) and the swing warm-up's zeros fall on
  bars that are dropped: only the series' own first bars are warm-up bars.

:func:`featurise` sends each segment of a store down one of the two paths. Only the stored
columns (:class:`moola.data.store.plan.ColumnPlan`) are kept; the anchored ones are computed
when a window is drawn, from the close and the range EMA (also kept).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import numpy as np

from moola.data.features import FEATURE_GROUPS
from moola.data.features.candles import Candles, FeatureSettings
from moola.data.store.arrays import StoreError
from moola.data.store.plan import ColumnPlan
from moola.data.store.scan import ScanRows, ScanState, scan

#: Segments of one length go through the window builder's path (one numpy call per bar on
#: a row of segments) when at least this many share the length; others are scanned alone.
MIN_BATCH = 16
#: ...and only when they are at most this long (a longer one is cheaper to scan).
MAX_BATCH_LENGTH = 4096

#: Where rows of bars are written: a numpy array or a store file (``x[rows] = values``).
Rows = Any

#: Bars scanned and featurised at a time along a long series (the float64 intermediates of
#: one block then take about 30 x 8 bytes x CHUNK_BARS = 16 MB).
CHUNK_BARS = 1 << 16
#: Equal-length series featurised at a time on the builder's path (as moola.train.split_features).
CHUNK_SERIES = 2048


class ScannedCandles(Candles):
    """Bars as one (n, 1) column whose range EMA and ATR were scanned along the series."""

    def __init__(self, ohlc: np.ndarray, rows: ScanRows, settings: FeatureSettings) -> None:
        columns = np.ascontiguousarray(ohlc.T)[:, :, None]
        super().__init__(columns[0], columns[1], columns[2], columns[3])
        self._span, self._period = settings.ema_span, settings.atr_period
        self._ema, self._atr = rows.ema[:, None], rows.atr[:, None]

    def range_ema(self, span: int) -> np.ndarray:
        return self._ema if span == self._span else super().range_ema(span)

    def atr(self, period: int) -> np.ndarray:
        return self._atr if period == self._period else super().atr(period)


@dataclass
class ScannedTrack:
    """The zigzag's per-bar rows, as ``swing_features`` reads them (bars relative to row 0)."""

    leg: np.ndarray
    high_price: np.ndarray
    high_bar: np.ndarray
    low_price: np.ndarray
    low_bar: np.ndarray


def _stored_columns(
    candles: Candles, plan: ColumnPlan, settings: FeatureSettings
) -> list[np.ndarray]:
    """The plan's stored columns, each bar-major (K, N) float64, from the group functions."""
    found: dict[str, np.ndarray] = {}
    # the groups with a background part compute last, so that the others overlap it
    for group in sorted(plan.groups, key=lambda g: FEATURE_GROUPS[g].start is not None):
        spec = FEATURE_GROUPS[group]
        if not any(name in plan.stored for name in spec.names):
            continue
        for name, column in zip(spec.names, spec.compute(candles, settings)):
            found[name] = column
    return [found[name] for name in plan.stored]


def featurise_windows(
    ohlc: np.ndarray, plan: ColumnPlan, settings: FeatureSettings, *, threaded: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """(n, L, 4) float64 series of one length -> ((n, L, stored) float32, (n, L) EMA or None)."""
    candles = Candles.from_ohlc(ohlc)
    for group in plan.groups:
        start = FEATURE_GROUPS[group].start
        if threaded and start is not None:
            start(candles, settings)
    columns = _stored_columns(candles, plan, settings)
    k, n, f = candles.n_bars, candles.n_windows, len(columns)
    out = np.empty((k, n, f), dtype=np.float32)
    for j, column in enumerate(columns):
        out[:, :, j] = column
    # one transpose that moves each bar's stored features as one record (as build_features)
    records = out.view(np.dtype((np.void, 4 * f))) if f else out
    block = np.ascontiguousarray(records.transpose(1, 0, 2)).view(np.float32)
    ema = np.ascontiguousarray(candles.range_ema(settings.ema_span).T) if plan.needs_ema else None
    return block.reshape(n, k, f), ema


def series_blocks(
    bars: np.ndarray, plan: ColumnPlan, settings: FeatureSettings, *, chunk: int = CHUNK_BARS
) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
    """One (T, 4) float64 series' stored columns, ``chunk`` bars at a time: (a, b, the
    (b - a, stored) float32 columns of bars a..b-1, their (b - a,) range EMA)."""
    lead = max(settings.warmup, settings.atr_period, 1)
    chunk = max(chunk, lead)
    state = ScanState()
    tail: tuple[np.ndarray, ScanRows] | None = None  # the previous block's last `lead` bars
    for a in range(0, len(bars), chunk):
        b = min(len(bars), a + chunk)
        ohlc = np.asarray(bars[a:b], dtype=np.float64)
        rows = scan(ohlc, state, settings)
        if tail is not None:  # start `lead` bars early: look-backs and warm-up zeros land there
            ohlc = np.concatenate([tail[0], ohlc])
            rows = ScanRows(
                *(np.concatenate([old, new]) for old, new in zip(_fields(tail[1]), _fields(rows)))
            )
        origin = b - len(ohlc)  # the series index of the block's row 0
        candles = ScannedCandles(ohlc, rows, settings)
        track = ScannedTrack(
            leg=rows.leg[:, None],
            high_price=rows.high_price[:, None],
            high_bar=(rows.high_bar - origin)[:, None],
            low_price=rows.low_price[:, None],
            low_bar=(rows.low_bar - origin)[:, None],
        )
        done: Future[ScannedTrack] = Future()
        done.set_result(track)
        candles.background[("zigzag", settings)] = done
        skip = a - origin
        out = np.empty((b - a, len(plan.stored)), dtype=np.float32)
        for j, column in enumerate(_stored_columns(candles, plan, settings)):
            out[:, j] = column[skip:, 0]
        candles.background.clear()
        yield a, b, out, rows.ema[skip:]
        keep = min(lead, len(ohlc))
        tail = (ohlc[-keep:], ScanRows(*(f[-keep:] for f in _fields(rows))))


def _fields(rows: ScanRows) -> tuple[np.ndarray, ...]:
    return (
        rows.ema,
        rows.atr,
        rows.leg,
        rows.high_price,
        rows.high_bar,
        rows.low_price,
        rows.low_bar,
    )


def featurise(
    bars: np.ndarray,
    offsets: np.ndarray,
    plan: ColumnPlan,
    settings: FeatureSettings,
    block: Rows,
    anchors: Rows | None,
    *,
    threaded: bool = True,
) -> None:
    """Every segment's stored columns into ``block`` and its close and range EMA into
    ``anchors`` (rows of bars, written in whole rows: arrays or :class:`moola.data.store.arrays.RowFile`)."""
    lengths = np.diff(offsets)
    values, counts = np.unique(lengths, return_counts=True)
    batched = set(values[(counts >= MIN_BATCH) & (values <= MAX_BATCH_LENGTH)].tolist())
    for length in sorted(batched):
        segments = np.flatnonzero(lengths == length)
        for a in range(0, len(segments), CHUNK_SERIES):
            first = offsets[segments[a : a + CHUNK_SERIES]]
            rows: slice | np.ndarray
            if (np.diff(first) == length).all():  # one run of bars (windows in row order)
                rows = slice(int(first[0]), int(first[-1]) + length)
            else:
                rows = (first[:, None] + np.arange(length)[None, :]).reshape(-1)
            ohlc = np.asarray(bars[rows]).reshape(len(first), length, 4)
            columns, ema = featurise_windows(ohlc, plan, settings, threaded=threaded)
            check_finite(columns.reshape(len(first) * length, -1), int(first[0]), plan)
            block[rows] = columns.reshape(len(first) * length, -1)
            if anchors is not None and ema is not None:
                anchors[rows] = np.stack([ohlc[:, :, 3].reshape(-1), ema.reshape(-1)], axis=1)
    for s in np.flatnonzero(~np.isin(lengths, list(batched))):
        begin = int(offsets[s])
        series = bars[begin : int(offsets[s + 1])]
        for a, b, columns, ema in series_blocks(series, plan, settings):
            check_finite(columns, begin + a, plan)
            block[begin + a : begin + b] = columns
            if anchors is not None:
                anchors[begin + a : begin + b] = np.stack([series[a:b, 3], ema], axis=1)


def check_finite(columns: np.ndarray, first_bar: int, plan: ColumnPlan) -> None:
    """Every stored feature is finite (bars are checked before, and every feature is bounded
    by its definition): a store's inputs never need checking when a batch is drawn."""
    finite = np.isfinite(columns)
    if not finite.all():
        row, col = np.argwhere(~finite)[0]
        raise StoreError(
            f"bar {first_bar + int(row)}: feature {plan.stored[int(col)]} is not finite "
            f"({columns[row, col]}); the bars were valid, so this is a bug in the feature code"
        )
