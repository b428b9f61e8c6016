"""Cut a continuous OHLC series into labelled windows: a transparent rule, stated step by step.

Users have bar series, not pre-cut windows. ``label_series`` cuts a series into K-bar windows
(every ``stride`` bars) and labels each window on its own, by this rule:

1. **Unit.** ``u`` = the mean bar range (high − low) of the window. Every size below is in
   units of ``u``, so the rule does not depend on the price level or the volatility regime.
2. **Expansion.** Among all runs of consecutive bars ``s..e`` with ``min_length <= e − s + 1
   <= max_length`` that end at least ``aftermath`` bars before the window's end, take the one
   with the largest net move ``|close[e] − open[s]|`` (the earliest on ties). That run is the
   expansion (``expansion_start = s``, ``expansion_end = e``, inclusive), its direction
   ``d = sign(close[e] − open[s])`` and its size ``M = |close[e] − open[s]|``.
3. **Aftermath.** Over the ``aftermath`` bars after ``e``, follow the closes ``c`` in time:

   * *retracement* when ``d·(close[e] − c) >= retrace × M`` happens first (the price gives
     back at least ``retrace`` of the move);
   * *continuation* when ``d·(c − close[e]) >= extend × u`` happens first (the price goes on
     at least ``extend`` bar ranges beyond the expansion's end);
   * *consolidation* when neither happens.

The rule looks ahead (the aftermath decides the label): that is what labelling is, and the
features that the model sees stay causal. Defaults were chosen once, so that all three
classes occur with no class tiny, and are not tuned per file.

``start_bar`` (the offset of each window's first bar in the series) is kept, so that training
can split chronologically and purge overlapping windows (``moola.data.split_windows``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from moola.data.windows import DEFAULT_WINDOW, LABEL_NAMES, OHLCWindows, validate_ohlc
from moola.errors import ConfigError, DataValidationError

_CONSOLIDATION, _RETRACEMENT, _CONTINUATION = (
    LABEL_NAMES.index("consolidation"),
    LABEL_NAMES.index("retracement"),
    LABEL_NAMES.index("continuation"),
)


@dataclass(frozen=True)
class LabelRule:
    """The parameters of the labelling rule (see the module docstring)."""

    window: int = DEFAULT_WINDOW
    stride: int = 15  # ~330 windows from 5000 bars
    min_length: int = 3
    max_length: int = 30
    aftermath: int = 20
    retrace: float = 0.5  # fraction of the move given back
    extend: float = 1.0  # bar ranges beyond the expansion's end

    def __post_init__(self) -> None:
        for name in ("window", "stride", "min_length", "max_length", "aftermath"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.min_length > self.max_length:
            raise ConfigError(
                f"min_length ({self.min_length}) must be <= max_length ({self.max_length})"
            )
        if self.min_length + self.aftermath > self.window:
            raise ConfigError(
                f"a {self.window}-bar window cannot hold an expansion of {self.min_length} "
                f"bars plus an aftermath of {self.aftermath}"
            )
        if not (self.retrace > 0 and self.extend > 0):
            raise ConfigError("retrace and extend must be > 0")


def label_window(ohlc: np.ndarray, rule: LabelRule) -> tuple[int, int, int]:
    """(label, expansion_start, expansion_end) of one (K, 4) window, by the documented rule."""
    label, start, end = label_windows(np.asarray(ohlc)[None], rule)[0]
    return int(label), int(start), int(end)


def label_windows(ohlc: np.ndarray, rule: LabelRule) -> np.ndarray:
    """(N, 3) int64 ``[label, expansion_start, expansion_end]`` of N (K, 4) windows at once.

    The rule of the module docstring, vectorised over windows (what labelling dense windows
    on the fly needs): per run length, the best start of every window in one step."""
    bars = np.asarray(ohlc, dtype=np.float64)
    n, k = bars.shape[0], bars.shape[1]
    o, h, lo, c = bars[..., 0], bars[..., 1], bars[..., 2], bars[..., 3]
    rows = np.arange(n)
    unit = (h - lo).mean(axis=1)
    flat = ~(unit > 0)
    if flat.any():  # a flat window: any move is large
        tiny = np.abs(c[flat]).mean(axis=1) * 1e-12
        unit[flat] = np.where(tiny != 0, tiny, 1e-12)
    last_end = k - 1 - rule.aftermath  # the latest bar an expansion may end on
    best_move = np.full(n, -1.0)
    best_start = np.zeros(n, dtype=np.int64)
    best_end = np.full(n, rule.min_length - 1, dtype=np.int64)
    for length in range(rule.min_length, min(rule.max_length, last_end + 1) + 1):
        count = last_end - length + 2  # starts 0 .. last_end - length + 1
        moves = np.abs(c[:, length - 1 : length - 1 + count] - o[:, :count])
        i = np.argmax(moves, axis=1)  # the earliest start on ties
        better = moves[rows, i] > best_move  # a shorter run keeps a tie
        best_move = np.where(better, moves[rows, i], best_move)
        best_start = np.where(better, i, best_start)
        best_end = np.where(better, i + length - 1, best_end)
    close_end = c[rows, best_end]
    direction = np.where(close_end >= o[rows, best_start], 1.0, -1.0)
    after_at = best_end[:, None] + 1 + np.arange(rule.aftermath)[None, :]
    inside = after_at < k
    after = c[rows[:, None], np.minimum(after_at, k - 1)]
    label = _aftermath_labels(rule, direction, close_end, after, inside, best_move, unit)
    return np.stack([label, best_start, best_end], axis=1)


#: Windows labelled at a time by :func:`label_starts` (their bars: 8192 x K x 32 bytes).
LABEL_CHUNK = 8192


def series_starts(n_bars: int, rule: LabelRule) -> np.ndarray:
    """The first bar of every window the rule cuts from ``n_bars`` bars: every ``stride``
    bars from bar 0 (int64)."""
    return np.arange(0, n_bars - rule.window + 1, rule.stride, dtype=np.int64)


def label_starts(
    bars: np.ndarray, starts: np.ndarray, rule: LabelRule, *, chunk: int = LABEL_CHUNK
) -> np.ndarray:
    """(N, 3) int32 ``[label, expansion_start, expansion_end]`` of the windows of checked
    (T, 4) ``bars`` that start at ``starts`` (ascending): :func:`label_windows`' labels, bit
    for bit, computed along the series.

    Each run's net move ``|close[s + L - 1] - open[s]|`` is computed once per bar of the
    series, not once per window that holds it (K times at stride 1), and each window's best
    start is an argmax over a view of those moves; the windows' bars are never cut out. It
    works ``chunk`` windows at a time, so its memory stays bounded at any stride.
    """
    k = rule.window
    last_end = k - 1 - rule.aftermath  # the latest bar an expansion may end on
    lengths = range(rule.min_length, min(rule.max_length, last_end + 1) + 1)
    out = np.empty((len(starts), 3), dtype=np.int32)
    window_of = np.lib.stride_tricks.sliding_window_view
    for a in range(0, len(starts), chunk):
        first = int(starts[a])
        span = np.asarray(bars[first : int(starts[min(a + chunk, len(starts)) - 1]) + k])
        at = np.asarray(starts[a : a + chunk], dtype=np.int64) - first
        o, h, lo, c = (np.ascontiguousarray(span[:, j]) for j in range(4))
        n = len(at)
        unit = np.ascontiguousarray(_rows_of(window_of(h - lo, k), at)).mean(axis=1)
        flat = ~(unit > 0)
        if flat.any():  # a flat window: any move is large
            tiny = np.abs(np.ascontiguousarray(window_of(c, k)[at[flat]])).mean(axis=1) * 1e-12
            unit[flat] = np.where(tiny != 0, tiny, 1e-12)
        best_move = np.full(n, -1.0)
        best_start = np.zeros(n, dtype=np.int64)
        best_end = np.full(n, rule.min_length - 1, dtype=np.int64)
        for length in lengths:
            count = last_end - length + 2  # starts 0 .. last_end - length + 1 of a window
            moves = np.abs(c[length - 1 :] - o[: len(c) - length + 1])  # by first bar
            i = np.argmax(_rows_of(window_of(moves, count), at), axis=1)  # earliest on ties
            move = moves[at + i]
            better = move > best_move  # a shorter run keeps a tie
            best_move = np.where(better, move, best_move)
            best_start = np.where(better, i, best_start)
            best_end = np.where(better, i + length - 1, best_end)
        close_end = c[at + best_end]
        direction = np.where(close_end >= o[at + best_start], 1.0, -1.0)
        after_at = best_end[:, None] + 1 + np.arange(rule.aftermath)[None, :]
        inside = after_at < k
        after = c[at[:, None] + np.minimum(after_at, k - 1)]
        label = _aftermath_labels(rule, direction, close_end, after, inside, best_move, unit)
        out[a : a + n] = np.stack([label, best_start, best_end], axis=1)
    return out


def _rows_of(view: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The rows ``at`` of a sliding view: itself strided (no copy) when they are evenly
    spaced, as a series' windows are."""
    step = int(at[1] - at[0]) if len(at) > 1 else 1
    if step > 0 and bool((np.diff(at) == step).all()):
        return view[int(at[0]) :: step][: len(at)]
    return view[at]


def label_batches(
    bars: np.ndarray, rule: LabelRule, *, series: int | None = None, rows: int = LABEL_CHUNK
) -> Iterator[OHLCWindows]:
    """``label_series`` of checked (T, 4) ``bars``, ``rows`` windows at a time (what ``moola
    label`` writes batch by batch: a stride-1 series never has all its windows' bars in
    memory). ``series``: the series id each window carries (pooled files)."""
    starts = series_starts(len(bars), rule)
    view = np.lib.stride_tricks.sliding_window_view(bars, (rule.window, 4))[:, 0]
    for a in range(0, len(starts), rows):
        at = starts[a : a + rows]
        ohlc = view[at]
        labels = label_starts(bars, at, rule)
        yield OHLCWindows(
            ohlc=ohlc,
            label=labels[:, 0],
            expansion_start=labels[:, 1],
            expansion_end=labels[:, 2],
            start_bar=at,
            series=None if series is None else np.full(len(at), series, dtype=np.int64),
        )


def label_series(series: np.ndarray, rule: LabelRule | None = None) -> OHLCWindows:
    """Cut a (T, 4) [open, high, low, close] series into labelled windows with ``start_bar``."""
    rule = rule or LabelRule()
    bars = check_series(series, window=rule.window)
    starts = series_starts(bars.shape[0], rule)
    ohlc = np.lib.stride_tricks.sliding_window_view(bars, (rule.window, 4))[starts, 0]
    labels = label_starts(bars, starts, rule)
    return OHLCWindows(
        ohlc=ohlc,
        label=labels[:, 0],
        expansion_start=labels[:, 1],
        expansion_end=labels[:, 2],
        start_bar=starts,
    ).validate(n_classes=len(LABEL_NAMES))


def check_series(series: Any, *, window: int, source: str = "series") -> np.ndarray:
    """A (T, 4) float64 array of possible bars, at least one window long; errors name the row."""
    bars = np.asarray(series, dtype=np.float64)
    if bars.ndim != 2 or bars.shape[1] != 4:
        raise DataValidationError(
            f"{source}: expected (T, 4) bars [open, high, low, close], got {tuple(bars.shape)}"
        )
    if bars.shape[0] < window:
        raise DataValidationError(
            f"{source}: has {bars.shape[0]} bars, fewer than one {window}-bar window"
        )
    try:
        validate_ohlc(bars[None], window=bars.shape[0])
    except DataValidationError as exc:
        # validate_ohlc names "row 0, bar B": in a series the bar is the row.
        message = str(exc).removeprefix("row 0, bar ")
        raise DataValidationError(f"{source}: row {message}") from None
    return bars


def _aftermath_labels(
    rule: LabelRule,
    direction: np.ndarray,
    close_end: np.ndarray,
    after: np.ndarray,
    inside: np.ndarray,
    best_move: np.ndarray,
    unit: np.ndarray,
) -> np.ndarray:
    """The class of each move from the bars after it (``after``, with ``inside`` marking the
    ones the window holds): retracement if it gave back ``retrace`` of the move first,
    continuation if it went on by ``extend`` units first, consolidation if neither."""
    moved = direction[:, None] * (after - close_end[:, None])
    gave_back = inside & (-moved >= rule.retrace * best_move[:, None])
    went_on = inside & (moved >= rule.extend * unit[:, None])
    never = rule.aftermath
    first_back = np.where(gave_back.any(axis=1), np.argmax(gave_back, axis=1), never)
    first_on = np.where(went_on.any(axis=1), np.argmax(went_on, axis=1), never)
    label = np.full(len(direction), _CONSOLIDATION, dtype=np.int64)  # neither happened
    label[first_back < first_on] = _RETRACEMENT
    label[first_on < first_back] = _CONTINUATION
    return label
