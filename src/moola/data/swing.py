"""The original's ``swing`` feature group, from a causal ATR zigzag.

**The zigzag** (one state per window, updated bar by bar, so bar t's state uses bars
``0..t`` only). ``thr_t = swing_k * ATR_t`` with ATR(``atr_period``) as defined in
:meth:`moola.data.candles.Candles.atr` (true range with the previous close, Wilder
smoothing seeded by the running mean).

- *Undetermined* (from bar 0 until the first confirmation): track the highest high and the
  lowest low so far (a tie keeps the earlier bar). Once they are ``>= thr_t`` apart, the
  earlier of the two is confirmed as a swing: a high before the low confirms a swing high
  and starts a *down leg* whose candidate low is that low; a low before the high confirms
  a swing low and starts an *up leg* whose candidate high is that high. On one bar
  (``high - low >= thr`` but both extremes on the same bar) nothing is confirmed yet.
- *Up leg* (candidate high H): a bar with ``high > H`` moves H to it. Otherwise, if
  ``H - low_t >= thr_t``, H is confirmed as a swing high and a down leg starts with
  candidate low ``low_t``. A bar that extends the leg never also reverses it.
- *Down leg*: the mirror image.

So a swing is confirmed at the first bar whose opposite extreme lies 1.2 ATR away from it
(never at the swing bar itself), and it becomes *the last confirmed swing* from that bar on.
The comparison uses ``(swing_k - 1e-9) * ATR``: a move of exactly 1.2 ATR (common on a
price grid) confirms, and float rounding after scaling all prices cannot flip it.

**The features** of bar t (all 0 for the first ``warmup`` bars, where the ATR rests on too
few bars; the zigzag itself runs from bar 0, so swings confirmed there count later):

=========================  ====================================================  ========
name                       meaning                                               range
=========================  ====================================================  ========
dist_to_prev_swing_high    (close_t - last swing high) / ATR_t                   [-3, 3]
dist_to_prev_swing_low     (close_t - last swing low) / ATR_t                    [-3, 3]
bars_since_swing_high      (t - bar of the last swing high) / 105                [0, 3]
bars_since_swing_low       (t - bar of the last swing low) / 105                 [0, 3]
expansion_proxy            range_z * trend direction * body_pct                  [-2, 2]
consolidation_proxy        sqrt(10) * ATR_t / width of the last 10 bars          [0, 3]
=========================  ====================================================  ========

- Before the first swing of a kind is confirmed, its distance is 0 (no level to measure
  from) and its bars_since is 3 (the cap: "longer ago than we can say"). Distances use 0
  while ATR is 0 (every bar so far is flat at one price, so the close sits on any level).
- bars_since counts from the swing's own bar, not from its confirmation.
- *Trend direction* is the zigzag's current leg: +1 in an up leg (the last confirmed swing
  is a low), -1 in a down leg, 0 while undetermined. ``range_z`` is the candle group's
  (EMA-20 of the range, clipped to [0, 3]); the product (in [-3, 3]) is clipped to [-2, 2].
  It is large and positive for a wide bar whose body goes the trend's way.
- *consolidation_proxy*: the width is ``max(high) - min(low)`` over the last
  ``atr_period`` bars (fewer at the window's start). A random walk's width grows like
  ``ATR * sqrt(n)``, so the ratio is about 1 for a random walk, above 1 in a tight range and
  below 1 in a trend. A zero width (flat bars) gives the cap, 3.
"""

from __future__ import annotations

import math

import numpy as np

from moola.data.candles import Candles, FeatureSettings, in_units

SWING_FEATURES: tuple[str, ...] = (
    "dist_to_prev_swing_high",
    "dist_to_prev_swing_low",
    "bars_since_swing_high",
    "bars_since_swing_low",
    "expansion_proxy",
    "consolidation_proxy",
)

#: Subtracted from ``swing_k`` so that moves of exactly k x ATR confirm robustly.
CONFIRM_SLACK = 1e-9
DIST_LIMIT = 3.0
BARS_SINCE_LIMIT = 3.0
EXPANSION_LIMIT = 2.0
CONSOLIDATION_LIMIT = 3.0
UP, NONE, DOWN = 1.0, 0.0, -1.0


class ZigzagTrack:
    """Per bar (K, N): the last confirmed swing high/low (price and bar) and the leg.

    ``*_bar`` is ``-inf`` and ``*_price`` is NaN before the first swing of that kind.
    """

    def __init__(self, candles: Candles, settings: FeatureSettings) -> None:
        k, n = candles.n_bars, candles.n_windows
        high, low = candles.high, candles.low
        threshold = (settings.swing_k - CONFIRM_SLACK) * candles.atr(settings.atr_period)
        self.high_price = np.empty((k, n))
        self.high_bar = np.empty((k, n))
        self.low_price = np.empty((k, n))
        self.low_bar = np.empty((k, n))
        self.leg = np.empty((k, n))

        cand_hi, cand_hi_bar = high[0].copy(), np.zeros(n)
        cand_lo, cand_lo_bar = low[0].copy(), np.zeros(n)
        sw_hi, sw_hi_bar = np.full(n, np.nan), np.full(n, -np.inf)
        sw_lo, sw_lo_bar = np.full(n, np.nan), np.full(n, -np.inf)
        leg = np.zeros(n)
        no_extension = np.zeros(n, dtype=bool)
        for t in range(k):
            h, lo, thr = high[t], low[t], threshold[t]
            if t > 0:
                # Every leg tracks both running extremes; a reversal below resets the
                # candidate of the new leg, so tracking the other one too is harmless.
                ext_hi = h > cand_hi
                ext_lo = lo < cand_lo
                np.maximum(cand_hi, h, out=cand_hi)
                np.minimum(cand_lo, lo, out=cand_lo)
                np.copyto(cand_hi_bar, t, where=ext_hi)
                np.copyto(cand_lo_bar, t, where=ext_lo)
            else:
                ext_hi = ext_lo = no_extension
            undetermined = leg == NONE
            # Undetermined: the extremes' spread reaches thr; the earlier one is the swing.
            spread = undetermined & (cand_hi - cand_lo >= thr)
            top_high = (spread & (cand_hi_bar < cand_lo_bar)) | (
                (leg == UP) & ~ext_hi & (cand_hi - lo >= thr)
            )
            top_low = (spread & (cand_lo_bar < cand_hi_bar)) | (
                (leg == DOWN) & ~ext_lo & (h - cand_lo >= thr)
            )
            # A swing high ends an up leg (or the undetermined start): record it, start a
            # down leg. Out of an up leg the new candidate low is this bar's low; out of the
            # start it is the running low, which already lies after the high.
            np.copyto(sw_hi, cand_hi, where=top_high)
            np.copyto(sw_hi_bar, cand_hi_bar, where=top_high)
            restart = top_high & ~undetermined
            np.copyto(cand_lo, lo, where=restart)
            np.copyto(cand_lo_bar, t, where=restart)
            np.copyto(leg, DOWN, where=top_high)
            np.copyto(sw_lo, cand_lo, where=top_low)
            np.copyto(sw_lo_bar, cand_lo_bar, where=top_low)
            restart = top_low & ~undetermined
            np.copyto(cand_hi, h, where=restart)
            np.copyto(cand_hi_bar, t, where=restart)
            np.copyto(leg, UP, where=top_low)
            self.high_price[t] = sw_hi
            self.high_bar[t] = sw_hi_bar
            self.low_price[t] = sw_lo
            self.low_bar[t] = sw_lo_bar
            self.leg[t] = leg


def rolling_width(high: np.ndarray, low: np.ndarray, n: int) -> np.ndarray:
    """``max(high) - min(low)`` over bars ``max(0, t-n+1)..t`` along axis 0 (exact: max/min)."""
    hi, lo = high.copy(), low.copy()
    span = 1
    while span < n:  # doubling: after the loop, each row covers the last `covered` bars
        step = min(span, n - span)
        hi[step:] = np.maximum(hi[step:], hi[:-step])
        lo[step:] = np.minimum(lo[step:], lo[:-step])
        span += step
    return hi - lo


def swing_features(candles: Candles, settings: FeatureSettings) -> list[np.ndarray]:
    """The six swing features as bar-major (K, N) columns (see the module docstring)."""
    track = ZigzagTrack(candles, settings)
    atr = candles.atr(settings.atr_period)
    close = candles.close
    t = np.arange(candles.n_bars, dtype=np.float64)[:, None]

    def distance(price: np.ndarray) -> np.ndarray:
        move = close - price
        move[np.isnan(move)] = 0.0  # no swing of this kind yet
        return in_units(move, atr, DIST_LIMIT)

    def bars_since(bar: np.ndarray) -> np.ndarray:
        return np.minimum((t - bar) / settings.bars_scale, BARS_SINCE_LIMIT)

    expansion = candles.range_z(settings.ema_span) * track.leg * candles.body_pct
    np.clip(expansion, -EXPANSION_LIMIT, EXPANSION_LIMIT, out=expansion)
    width = rolling_width(candles.high, candles.low, settings.atr_period)
    consolidation = in_units(math.sqrt(settings.atr_period) * atr, width, CONSOLIDATION_LIMIT)
    consolidation[width == 0] = CONSOLIDATION_LIMIT
    columns = [
        distance(track.high_price),
        distance(track.low_price),
        bars_since(track.high_bar),
        bars_since(track.low_bar),
        expansion,
        consolidation,
    ]
    for column in columns:
        column[: settings.warmup] = 0.0
    return columns
