"""The features' three recursions (range EMA, ATR, zigzag) along one series, block by block.

The window builder (:mod:`moola.data.features`) runs each recursion over the K bars of many
windows at once, one numpy call per bar on a row of windows. Along one long series that
would be one numpy call per bar on a row of one value, which is slow. Here each recursion
is a plain loop on Python floats over the series' bars, carrying its state from one block
of bars to the next (:class:`ScanState`), so a series of any length is scanned in bounded
memory. Every float operation is the one the builder performs, in the same order, so a
series scanned here gives the builder's values bit for bit when the series is one window
(the tests hold the two to that).

The zigzag records only its *events* (a leg starts, a swing is confirmed); the per-bar rows
are forward-filled from them with numpy, which keeps the Python loop short.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import accumulate

import numpy as np

from moola.data.features.candles import FeatureSettings
from moola.data.features.swing import CONFIRM_SLACK


@dataclass
class ScanState:
    """Everything the recursions carry from one bar to the next, after the bars seen so far."""

    bars: int = 0  # bars seen (the series index of the next bar)
    prev_close: float = math.nan
    ema: float = 0.0
    atr: float = 0.0
    leg: float = 0.0  # +1 up leg, -1 down leg, 0 undetermined
    cand_hi: float = 0.0  # the leg's candidate high (or the running high while undetermined)
    cand_hi_bar: int = 0
    cand_lo: float = 0.0
    cand_lo_bar: int = 0
    swing_hi: float = math.nan  # the last confirmed swing high (NaN: none yet)
    swing_hi_bar: float = -math.inf
    swing_lo: float = math.nan
    swing_lo_bar: float = -math.inf


@dataclass
class ScanRows:
    """Per-bar values of one block, each (n,) float64; swing bars are series indices."""

    ema: np.ndarray
    atr: np.ndarray
    leg: np.ndarray
    high_price: np.ndarray
    high_bar: np.ndarray
    low_price: np.ndarray
    low_bar: np.ndarray


def _ema(rng: np.ndarray, state: ScanState, span: int) -> np.ndarray:
    """``e_0 = r_0``, ``e_t = e_{t-1} (1 - a) + a r_t`` (the builder's order of operations)."""
    alpha = 2.0 / (span + 1.0)
    beta = 1.0 - alpha
    weighted = (alpha * rng).tolist()
    if state.bars == 0:
        first, rest = float(rng[0]), weighted[1:]
    else:
        first, rest = state.ema * beta + weighted[0], weighted[1:]
    values = list(accumulate(rest, lambda e, w: e * beta + w, initial=first))
    return np.asarray(values)


def _true_range(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, state: ScanState
) -> np.ndarray:
    """``max(high, prev close) - min(low, prev close)``; the series' first bar uses its range."""
    prev = np.empty_like(close)
    prev[1:] = close[:-1]
    prev[0] = state.prev_close
    tr = np.maximum(high, prev)
    tr -= np.minimum(low, prev)
    if state.bars == 0:
        tr[0] = high[0] - low[0]
    return tr


def _atr(tr: np.ndarray, state: ScanState, period: int) -> np.ndarray:
    """Wilder's ATR seeded with the running mean (``Candles.atr``), from the carried value."""
    values = tr.tolist()
    out: list[float] = []
    atr, t = state.atr, state.bars
    for value in values[: max(0, period - t)]:  # the seed: divide by min(t + 1, period)
        atr = value if t == 0 else atr + (value - atr) / float(min(t + 1, period))
        out.append(atr)
        t += 1
    rest = values[len(out) :]
    if rest:
        p = float(period)
        out.extend(accumulate(rest, lambda a, v: a + (v - a) / p, initial=atr))
        del out[len(out) - len(rest) - 1]  # accumulate repeats its initial value first
    return np.asarray(out)


def scan(ohlc: np.ndarray, state: ScanState, settings: FeatureSettings) -> ScanRows:
    """The recursions over the next block of (n, 4) float64 bars; ``state`` moves past them."""
    high, low, close = ohlc[:, 1], ohlc[:, 2], ohlc[:, 3]
    ema = _ema(high - low, state, settings.ema_span)
    atr = _atr(_true_range(high, low, close, state), state, settings.atr_period)
    rows = _zigzag(high, low, (settings.swing_k - CONFIRM_SLACK) * atr, state)
    state.ema, state.atr = float(ema[-1]), float(atr[-1])
    state.prev_close = float(close[-1])
    state.bars += len(close)
    return ScanRows(ema, atr, *rows)


def _zigzag(
    high_values: np.ndarray, low_values: np.ndarray, threshold: np.ndarray, state: ScanState
) -> tuple[np.ndarray, ...]:
    """The zigzag state machine (:mod:`moola.data.features.swing`) over one block.

    Returns the per-bar rows (leg, swing high price and bar, swing low price and bar).
    """
    base = state.bars
    # events, as flat lists: the block index where each takes effect, and its values
    leg_at: list[int] = []
    legs: list[float] = []
    hi_at: list[int] = []
    hi_price: list[float] = []
    hi_bar: list[float] = []
    lo_at: list[int] = []
    lo_price: list[float] = []
    lo_bar: list[float] = []
    leg = state.leg
    ch, chb, cl, clb = state.cand_hi, state.cand_hi_bar, state.cand_lo, state.cand_lo_bar
    first = 0
    if base == 0:  # the series' first bar: the undetermined start's running extremes
        ch, chb, cl, clb = float(high_values[0]), 0, float(low_values[0]), 0
        first = 1
    highs, lows, thrs = high_values.tolist(), low_values.tolist(), threshold.tolist()
    n = len(highs)
    i = first
    while i < n and leg == 0.0:  # undetermined: running extremes, ties keep the earlier bar
        h, lo, t = highs[i], lows[i], base + i
        if h > ch:
            ch, chb = h, t
        if lo < cl:
            cl, clb = lo, t
        if ch - cl >= thrs[i] and chb != clb:
            if chb < clb:  # the high came first: a swing high, then a down leg
                hi_at.append(i)
                hi_price.append(ch)
                hi_bar.append(chb)
                leg = -1.0
            else:
                lo_at.append(i)
                lo_price.append(cl)
                lo_bar.append(clb)
                leg = 1.0
            leg_at.append(i)
            legs.append(leg)
        i += 1
    resume = i
    for i in range(resume, n):
        h, lo = highs[i], lows[i]
        if leg > 0.0:
            if h > ch:
                ch, chb = h, base + i
            elif ch - lo >= thrs[i]:  # a swing high: a down leg from this bar's low
                hi_at.append(i)
                hi_price.append(ch)
                hi_bar.append(chb)
                leg, cl, clb = -1.0, lo, base + i
                leg_at.append(i)
                legs.append(leg)
        elif lo < cl:
            cl, clb = lo, base + i
        elif h - cl >= thrs[i]:  # a swing low: an up leg from this bar's high
            lo_at.append(i)
            lo_price.append(cl)
            lo_bar.append(clb)
            leg, ch, chb = 1.0, h, base + i
            leg_at.append(i)
            legs.append(leg)
    leg_row = _forward_fill(n, leg_at, legs, state.leg)
    high_price_row = _forward_fill(n, hi_at, hi_price, state.swing_hi)
    high_bar_row = _forward_fill(n, hi_at, hi_bar, state.swing_hi_bar)
    low_price_row = _forward_fill(n, lo_at, lo_price, state.swing_lo)
    low_bar_row = _forward_fill(n, lo_at, lo_bar, state.swing_lo_bar)
    state.leg = leg
    state.cand_hi, state.cand_hi_bar, state.cand_lo, state.cand_lo_bar = ch, chb, cl, clb
    state.swing_hi, state.swing_hi_bar = float(high_price_row[-1]), float(high_bar_row[-1])
    state.swing_lo, state.swing_lo_bar = float(low_price_row[-1]), float(low_bar_row[-1])
    return leg_row, high_price_row, high_bar_row, low_price_row, low_bar_row


def _forward_fill(n: int, at: list[int], values: list[float], before: float) -> np.ndarray:
    """A per-bar row: each event's value from its bar on, ``before`` until the first event."""
    table = np.empty(len(values) + 1)
    table[0] = before
    table[1:] = values
    which = np.zeros(n, dtype=np.int64)
    if at:
        which[np.asarray(at, dtype=np.int64)] = 1  # at most one event of a kind per bar
        np.cumsum(which, out=which)
    return table[which]
