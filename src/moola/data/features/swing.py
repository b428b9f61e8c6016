"""The original's ``swing`` feature group, from a causal ATR zigzag.

**The zigzag** (one state per window, updated bar by bar, so bar t's state uses bars
``0..t`` only). ``thr_t = swing_k * ATR_t`` with ATR(``atr_period``) as defined in
:meth:`moola.data.features.candles.Candles.atr` (true range with the previous close, Wilder
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
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from moola.data.features.candles import Candles, FeatureSettings, in_units

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
    """Per bar (K, N): the last confirmed swing high/low (price and bar), and the leg.

    ``*_price`` is NaN and ``*_bar`` is -inf before the first swing of that kind.

    How it is vectorised (the reference is the plain state machine), one loop over bars
    with numpy over windows:

    - A leg is tracked in a *signed frame*: with ``s = +1`` in an up leg and ``-1`` in a down
      leg, the candidate is ``X = s * price`` and a down leg is an up leg of negated prices,
      so one set of operations serves both (max, min, compare and negation are exact).
    - A reversal copies the candidate (price and bar) into the last swing of its kind.
    - The undetermined start (running extremes) runs only while some window has not
      confirmed its first swing.
    """

    def __init__(self, candles: Candles, settings: FeatureSettings) -> None:
        k, n = candles.n_bars, candles.n_windows
        high, low = candles.high, candles.low
        threshold = (settings.swing_k - CONFIRM_SLACK) * candles.atr(settings.atr_period)
        # the loop writes rows 1.. (no need to fill them first); row 0 is "nothing yet"
        self.leg = np.empty((k, n))  # after each bar: +1 up, -1 down, 0 undetermined
        self.high_price, self.low_price = np.empty((k, n)), np.empty((k, n))
        self.high_bar, self.low_bar = np.empty((k, n)), np.empty((k, n))
        self.leg[0] = 0.0
        for rows, empty in ((self.high_price, np.nan), (self.low_price, np.nan)):
            rows[0] = empty
        for rows, empty in ((self.high_bar, -np.inf), (self.low_bar, -np.inf)):
            rows[0] = empty
        # the last confirmed swings so far (NaN / -inf: none yet)
        hi_price, hi_bar = np.full(n, np.nan), np.full(n, -np.inf)
        lo_price, lo_bar = np.full(n, np.nan), np.full(n, -np.inf)

        # undetermined start: running extremes since bar 0 and their (earliest) bars
        waiting = np.arange(n)  # the windows still undetermined; the run_* rows are theirs
        run_hi, run_lo = high[0].copy(), low[0].copy()
        run_hi_bar, run_lo_bar = np.zeros(n), np.zeros(n)
        started = np.zeros(n, dtype=bool)
        pending = True
        # the legs (meaningless until a window starts: `started` masks its reversals)
        cand, cand_bar, sign = high[0].copy(), np.zeros(n), np.ones(n)
        sh, sl, fav, opp, tmp = (np.empty(n) for _ in range(5))
        ext, flag, rev, event = (np.empty(n, dtype=bool) for _ in range(4))
        up = np.ones(n, dtype=bool)  # sign > 0, kept as a bool (a flip is one xor)
        for t in range(1, k):
            bar = float(t)
            thr = threshold[t]
            np.multiply(sign, high[t], out=sh)
            np.multiply(sign, low[t], out=sl)
            np.maximum(sh, sl, out=fav)  # the leg's favourable extreme (high, or -low)
            np.minimum(sh, sl, out=opp)  # its opposite extreme (low, or -high)
            np.greater(fav, cand, out=ext)
            np.maximum(cand, fav, out=cand)
            np.subtract(cand, opp, out=tmp)
            np.greater_equal(tmp, thr, out=flag)
            np.greater(flag, ext, out=rev)  # reaches thr on a bar that does not extend
            if pending:
                rev &= started  # (all have started once nothing is pending)
            # A reversal confirms the candidate (a reversing bar never extends it): a swing
            # high out of an up leg, a swing low (price -X) out of a down leg.
            np.logical_and(rev, up, out=event)
            np.copyto(hi_price, cand, where=event)
            np.copyto(hi_bar, cand_bar, where=event)
            np.greater(rev, up, out=event)
            np.negative(cand, out=tmp)
            np.copyto(lo_price, tmp, where=event)
            np.copyto(lo_bar, cand_bar, where=event)
            np.logical_or(ext, rev, out=flag)
            # the candidate's bar only grows: max(bar, t * moved) moves it without a mask
            np.multiply(flag, bar, out=tmp)
            np.maximum(cand_bar, tmp, out=cand_bar)
            np.negative(opp, out=tmp)
            np.copyto(cand, tmp, where=rev)  # the new leg's candidate, in its own frame
            np.logical_xor(up, rev, out=up)
            np.multiply(up, 2.0, out=sign)
            sign -= 1.0  # +1 / -1, exactly
            if pending:
                # only the windows still undetermined, gathered (most start within a few
                # bars, so these rows shrink fast)
                h, lo = high[t, waiting], low[t, waiting]
                np.copyto(run_hi_bar, bar, where=h > run_hi)
                np.maximum(run_hi, h, out=run_hi)
                np.copyto(run_lo_bar, bar, where=lo < run_lo)
                np.minimum(run_lo, lo, out=run_lo)
                go = (run_hi - run_lo >= thr[waiting]) & (run_hi_bar != run_lo_bar)
                if go.any():
                    top = go & (run_hi_bar < run_lo_bar)  # the high came first: a swing high
                    bottom = go & ~top
                    tops, bottoms = waiting[top], waiting[bottom]
                    hi_price[tops], hi_bar[tops] = run_hi[top], run_hi_bar[top]
                    lo_price[bottoms], lo_bar[bottoms] = run_lo[bottom], run_lo_bar[bottom]
                    # a swing high starts a down leg (candidate: the running low), and v.v.
                    sign[tops], sign[bottoms] = -1.0, 1.0
                    up[tops], up[bottoms] = False, True
                    cand[tops], cand[bottoms] = -run_lo[top], run_hi[bottom]
                    cand_bar[tops], cand_bar[bottoms] = run_lo_bar[top], run_hi_bar[bottom]
                    started[waiting[go]] = True
                    wait = ~go
                    waiting, run_hi, run_lo = waiting[wait], run_hi[wait], run_lo[wait]
                    run_hi_bar, run_lo_bar = run_hi_bar[wait], run_lo_bar[wait]
                    pending = waiting.size > 0
                self.leg[t] = sign
                self.leg[t, waiting] = 0.0
            else:
                self.leg[t] = sign
            self.high_price[t] = hi_price
            self.high_bar[t] = hi_bar
            self.low_price[t] = lo_price
            self.low_bar[t] = lo_bar


def start_zigzag(candles: Candles, settings: FeatureSettings) -> None:
    """Start the zigzag in a background thread; :func:`zigzag_track` collects it.

    The zigzag is a loop over the bars whose numpy calls each work on one short row: about
    a third of the builder's time, in calls that release the GIL. In a second thread it runs
    while the main thread computes the other features, on a free core if there is one. It
    only reads the bars and the ATR, which is computed here, before the thread starts, so the
    two threads never fill the same cache. The result is the same either way.
    """
    candles.atr(settings.atr_period)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="moola-zigzag")
    candles.background[("zigzag", settings)] = pool.submit(ZigzagTrack, candles, settings)
    pool.shutdown(wait=False)  # the thread ends when the zigzag is done


def zigzag_track(candles: Candles, settings: FeatureSettings) -> ZigzagTrack:
    """The zigzag of these bars: the one :func:`start_zigzag` began (waited for), or a new one."""
    started = candles.background.pop(("zigzag", settings), None)
    return started.result() if started is not None else ZigzagTrack(candles, settings)


def rolling_width(high: np.ndarray, low: np.ndarray, n: int) -> np.ndarray:
    """``max(high) - min(low)`` over bars ``max(0, t-n+1)..t`` along axis 0 (exact: max/min).

    Doubling: each pass widens the window by ``step`` rows, reading one pair of buffers and
    writing the other (no slice temporaries); the first pass reads the inputs themselves.
    """
    hi, lo = high, low
    buffers = [(np.empty_like(high), np.empty_like(low)) for _ in range(2)]
    span = 1
    while span < n:  # after each pass, each row covers the last `span` bars
        step = min(span, n - span)
        new_hi, new_lo = buffers[0]
        new_hi[:step] = hi[:step]
        np.maximum(hi[step:], hi[:-step], out=new_hi[step:])
        new_lo[:step] = lo[:step]
        np.minimum(lo[step:], lo[:-step], out=new_lo[step:])
        hi, lo = new_hi, new_lo
        buffers.reverse()  # the next pass writes the other pair
        span += step
    return hi - lo


def swing_features(candles: Candles, settings: FeatureSettings) -> list[np.ndarray]:
    """The six swing features as bar-major (K, N) columns (see the module docstring)."""
    atr = candles.atr(settings.atr_period)
    # first what needs no zigzag, which may still be running in the background
    width = rolling_width(candles.high, candles.low, settings.atr_period)
    consolidation = in_units(math.sqrt(settings.atr_period) * atr, width, CONSOLIDATION_LIMIT)
    np.copyto(consolidation, CONSOLIDATION_LIMIT, where=width == 0)
    track = zigzag_track(candles, settings)
    close = candles.close
    t = np.arange(candles.n_bars, dtype=np.float64)[:, None]

    def distance(price: np.ndarray) -> np.ndarray:
        dist = in_units(close - price, atr, DIST_LIMIT)
        np.copyto(dist, 0.0, where=np.isnan(dist))  # no swing of this kind yet (price NaN)
        return dist

    def bars_since(bar: np.ndarray) -> np.ndarray:
        since = np.subtract(t, bar)  # inf before the first swing: the cap below
        since /= settings.bars_scale
        return np.minimum(since, BARS_SINCE_LIMIT, out=since)

    expansion = candles.range_z(settings.ema_span) * track.leg
    expansion *= candles.body_pct
    np.clip(expansion, -EXPANSION_LIMIT, EXPANSION_LIMIT, out=expansion)
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
