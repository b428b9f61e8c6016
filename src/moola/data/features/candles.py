"""Validated OHLC bars in the layout the feature groups compute on, plus shared series.

Every feature group reads the same bars and several need the same running series (the
EMA of the bar range, the ATR). :class:`Candles` computes each series once, on first use.

Layout: every array is **bar-major**, shape (K, N) for N windows of K bars, float64 and
C-contiguous. A recursion over bars (an EMA, the ATR, the zigzag) then loops over the K
rows and does numpy work on one contiguous row of N windows per bar, which is what makes
the builder fast. Each recursion is written so that :mod:`tests.helpers.reference_features`,
a plain per-bar loop, performs the same float operations in the same order and agrees bit
for bit.
"""

from __future__ import annotations

from collections.abc import Hashable
from concurrent.futures import Future
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np


@dataclass(frozen=True)
class FeatureSettings:
    """Parameters of the feature groups. The defaults are the original's."""

    ema_span: int = 20  # EMA of the bar range (range_z and the move group's unit)
    atr_period: int = 10  # ATR of the zigzag
    swing_k: float = 1.2  # a swing is confirmed once price moves swing_k x ATR away from it
    warmup: int = 15  # bars at the start of each window whose swing features are 0
    bars_scale: int = 105  # bars_since_swing_* are divided by this (the original window)


class Candles:
    """Bar-major (K, N) float64 OHLC columns with lazily computed shared series."""

    def __init__(
        self, open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray
    ) -> None:
        self.open = open_
        self.high = high
        self.low = low
        self.close = close
        # running series, computed on first use, by span / period
        self._range_emas: dict[int, np.ndarray] = {}
        self._atrs: dict[int, np.ndarray] = {}
        self._range_zs: dict[int, np.ndarray] = {}
        #: work that a feature group started in another thread for these bars, by key
        #: (see ``FeatureGroup.start``); the group collects it when it computes
        self.background: dict[Hashable, Future[Any]] = {}

    @classmethod
    def from_ohlc(cls, ohlc: np.ndarray) -> Candles:
        """From (N, K, 4) float64 [open, high, low, close] (one transposing copy)."""
        columns = np.ascontiguousarray(ohlc.transpose(2, 1, 0))
        return cls(columns[0], columns[1], columns[2], columns[3])

    @property
    def n_bars(self) -> int:
        return int(self.open.shape[0])

    @property
    def n_windows(self) -> int:
        return int(self.open.shape[1])

    @cached_property
    def range(self) -> np.ndarray:
        """high - low (>= 0 on validated bars)."""
        return self.high - self.low

    def range_ema(self, span: int) -> np.ndarray:
        """EMA of the range: ``e_0 = r_0``, ``e_t = a r_t + (1 - a) e_{t-1}``, ``a = 2/(span+1)``.

        Zero only while every range so far is zero (all weights are positive), so a zero
        EMA means "no bar has moved yet".
        """
        cache = self._range_emas
        if span not in cache:
            alpha = 2.0 / (span + 1.0)
            beta = 1.0 - alpha
            weighted = alpha * self.range
            ema = np.empty_like(weighted)
            ema[0] = self.range[0]
            for t in range(1, self.n_bars):
                np.multiply(ema[t - 1], beta, out=ema[t])
                ema[t] += weighted[t]  # = a r_t + (1 - a) e_{t-1}: addition commutes exactly
            cache[span] = ema
        return cache[span]

    @cached_property
    def true_range(self) -> np.ndarray:
        """``max(high, prev close) - min(low, prev close)``; bar 0 (no previous close) uses its range.

        The previous close is the window's own bar t-1: windows are self-contained, no bar
        before the window is ever read.
        """
        tr = np.empty_like(self.high)
        tr[0] = self.range[0]
        prev = self.close[:-1]
        np.maximum(self.high[1:], prev, out=tr[1:])
        tr[1:] -= np.minimum(self.low[1:], prev)
        return tr

    def atr(self, period: int) -> np.ndarray:
        """Wilder's ATR, seeded with the running mean of the true range.

        ``atr_t = atr_{t-1} + (tr_t - atr_{t-1}) / min(t + 1, period)`` with ``atr_{-1} = 0``:
        for the first ``period`` bars this is the plain mean of the true ranges so far (the
        classic seed, defined from bar 0 on instead of being missing), after that Wilder's
        ``((period - 1) atr_{t-1} + tr_t) / period``. Zero only while every bar so far is
        flat at one price.
        """
        cache = self._atrs
        if period not in cache:
            tr = self.true_range
            atr = np.empty_like(tr)
            atr[0] = tr[0]
            step = np.empty_like(tr[0])
            for t in range(1, self.n_bars):
                np.subtract(tr[t], atr[t - 1], out=step)
                step /= float(min(t + 1, period))
                np.add(atr[t - 1], step, out=atr[t])
            cache[period] = atr
        return cache[period]

    @cached_property
    def flat(self) -> np.ndarray | None:
        """Where the range is 0 (a ratio to it is undefined), or None when no bar is flat.

        Computed once for the six shares of the range (the common case needs none).
        """
        flat = self.range == 0
        return flat if flat.any() else None

    def share(self, numerator: np.ndarray, fill: float) -> np.ndarray:
        """``numerator / range`` with ``fill`` on zero-range bars; may reuse ``numerator``."""
        if self.flat is None:
            return np.divide(numerator, self.range, out=numerator)
        return share_of_range(numerator, self.range, fill)

    @cached_property
    def body_pct(self) -> np.ndarray:
        """(close - open) / range, 0 on zero-range bars."""
        return self.share(self.close - self.open, 0.0)

    def range_z(self, span: int) -> np.ndarray:
        """range / EMA(range), 0 while the EMA is 0, clipped to [0, 3]."""
        cache = self._range_zs
        if span not in cache:
            ema = self.range_ema(span)
            out = np.zeros_like(ema)
            np.divide(self.range, ema, out=out, where=ema > 0)
            cache[span] = np.clip(out, 0.0, 3.0, out=out)
        return cache[span]


def share_of_range(numerator: np.ndarray, rng: np.ndarray, fill: float) -> np.ndarray:
    """``numerator / range`` with ``fill`` on zero-range bars, where the ratio is undefined."""
    flat = rng == 0
    if not flat.any():  # the common case: one plain division
        return numerator / rng
    out = np.full_like(numerator, fill)
    np.divide(numerator, rng, out=out, where=~flat)
    return out


def in_units(move: np.ndarray, unit: np.ndarray, limit: float) -> np.ndarray:
    """``move / unit`` clipped to ``[-limit, limit]``; a zero unit gives ``sign(move) * limit``.

    A zero unit (nothing has moved yet by that measure) makes the ratio the limit of a tiny
    unit: ``0`` for no move, the clip bound otherwise. Never NaN.
    """
    if (unit > 0).all():  # the common case: one plain division
        ratio = move / unit
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = move / unit
        ratio[np.isnan(ratio)] = 0.0
    return np.clip(ratio, -limit, limit, out=ratio)
