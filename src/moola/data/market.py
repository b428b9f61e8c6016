"""A realistic synthetic market of raw OHLC bars, seeded: unlabelled series to learn from.

Unlike :mod:`moola.data.synthetic` (independent labelled windows with planted expansions),
this is one long continuous bar series with the **stylized facts** of real returns and no
planted pattern, meant to be labelled by ``moola label``'s rule or used unlabelled
(pretraining). It is the ``synthetic:BARS[:seed]`` data source.

The model (per bar ``t``, log prices, ``sigma_t`` the bar's volatility)::

    h_t     = vol_memory * h_{t-1} + sqrt(1 - vol_memory**2) * vol_of_vol * N(0, 1)
    sigma_t = vol * exp(h_t) * (volatile_multiplier if the hidden regime is volatile else 1)
    r_t     = sigma_t * (trend_drift * d_t + z_t),    z_t ~ Student-t(tail_df) / its std
    open_t  = close_{t-1} * exp(gap_t)                 (gap_t = 0 unless gap_prob > 0)
    close_t = open_t * exp(r_t)

* ``d_t`` is the trend state: 0 outside trending episodes, +1 or -1 (drawn at random per
  episode) inside one. Episodes last ``trend_duration`` bars on average and start after
  ``trend_gap`` quiet bars on average (geometric durations, a hidden Markov chain).
* The volatility regime is a second hidden two-state Markov chain (calm, volatile) with
  mean durations ``calm_duration`` and ``volatile_duration``.
* High and low: the bar's log path is taken as a Brownian bridge from 0 to ``r_t`` with
  volatility ``sigma_t``, whose maximum (minimum) is sampled exactly from its distribution
  ``P(max > m) = exp(-2 m (m - r) / sigma^2)``, ``m >= max(0, r)``; so every bar satisfies
  ``high >= max(open, close)`` and ``low <= min(open, close)`` (enforced once more against
  rounding), and ranges scale with the volatility as real ones do (mean range over mean
  |return| is about 2, as on hourly EURUSD). Parameters so wild that prices leave
  float64's range are a named :class:`~moola.errors.ConfigError`, never an invalid bar.

The stylized facts this reproduces (checked by ``tests/unit/data/test_market.py``):

1. **Heavy tails**: excess kurtosis of returns well above 0 (Student-t innovations, scaled
   by a varying volatility, which fattens the tails further).
2. **Volatility clustering**: the autocorrelation of ``|r_t|`` is positive and decays slowly
   over many lags (the log-volatility AR(1) for days-long memory, the regime for longer).
3. **No linear predictability**: the autocorrelation of ``r_t`` itself is near zero at every
   lag (the innovations are independent; trend drift is small against the noise).
4. **Regimes**: realised volatility over blocks of a few hundred bars differs by a factor
   of several between calm and volatile stretches, and stays put for thousands of bars.

Reproducibility: the same ``(n_bars, seed, config)`` gives bit-identical bars on the same
machine. Each component draws from its own stream of :func:`moola.seeding.numpy_generator`
and bars are generated in fixed chunks, so the first ``m`` bars of a longer market are the
market of ``m`` bars. Memory is the output plus one chunk of work arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from moola.errors import ConfigError
from moola.seeding import numpy_generator

#: Bars generated per chunk (fixed: chunk boundaries are part of what makes reruns identical).
CHUNK_BARS = 1 << 18

# One numpy_generator stream per component, so each is drawn in order whatever the chunking.
_INNOVATION, _VOL, _REGIME, _TREND, _HIGH, _LOW, _GAP, _GAP_SIZE = range(101, 109)

#: Largest growth factor the blocked AR(1) filter lets its rescaled partial sums reach.
_MAX_LOG_GROWTH = 150.0 * math.log(10.0)


@dataclass(frozen=True)
class MarketConfig:
    """Parameters of the synthetic market (see the module docstring for the model).

    Volatilities are per bar and relative (0.001 = 0.1 % per bar, like hourly FX), so the
    series is scale-free; durations are in bars.
    """

    #: Price of the first bar's open.
    start_price: float = 100.0
    #: Median per-bar volatility (std of log returns) in the calm regime.
    vol: float = 0.001
    #: Degrees of freedom of the Student-t innovations (> 2; smaller = heavier tails).
    tail_df: float = 4.0
    #: AR(1) coefficient of the log-volatility per bar (0.99: half-life of ~69 bars).
    vol_memory: float = 0.99
    #: Stationary standard deviation of the log-volatility AR(1).
    vol_of_vol: float = 0.3
    #: Volatility of the volatile regime relative to the calm one.
    volatile_multiplier: float = 2.0
    #: Mean length of a calm regime, in bars.
    calm_duration: float = 4000.0
    #: Mean length of a volatile regime, in bars.
    volatile_duration: float = 1500.0
    #: Drift inside a trending episode, per bar, in units of the bar's volatility.
    trend_drift: float = 0.1
    #: Mean length of a trending episode, in bars.
    trend_duration: float = 150.0
    #: Mean number of bars between two trending episodes.
    trend_gap: float = 600.0
    #: Probability that a bar opens away from the last close (0: a continuous series).
    gap_prob: float = 0.0
    #: Size of such a gap, in units of the bar's volatility (times a Student-t draw).
    gap_size: float = 3.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"market {f.name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ConfigError(f"market {f.name} must be finite, got {value}")
        positive = ("start_price", "vol", "volatile_multiplier", "gap_size")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"market {name} must be > 0, got {getattr(self, name)}")
        for name in ("calm_duration", "volatile_duration", "trend_duration", "trend_gap"):
            if getattr(self, name) < 1:
                raise ConfigError(f"market {name} must be >= 1 bar, got {getattr(self, name)}")
        if self.tail_df <= 2:
            raise ConfigError(f"market tail_df must be > 2 (finite variance), got {self.tail_df}")
        if not 0 <= self.vol_memory < 1:
            raise ConfigError(f"market vol_memory must be in [0, 1), got {self.vol_memory}")
        if self.vol_of_vol < 0 or self.trend_drift < 0:
            raise ConfigError("market vol_of_vol and trend_drift must be >= 0")
        if not 0 <= self.gap_prob <= 1:
            raise ConfigError(f"market gap_prob must be in [0, 1], got {self.gap_prob}")


class _Chain:
    """A hidden Markov chain that stays in a state for a geometric number of bars, then moves
    on: ``next_state`` picks the next state, ``durations`` the mean stay per ``abs(state)``."""

    def __init__(self, rng: np.random.Generator, durations: dict[int, float], first: int) -> None:
        self.rng = rng
        self.durations = durations
        self.state = first
        self.left = self._duration(first)

    def _duration(self, state: int) -> int:
        return int(self.rng.geometric(1.0 / self.durations[abs(state)]))

    def next_state(self) -> int:
        raise NotImplementedError

    def fill(self, n: int) -> np.ndarray:
        """The next ``n`` states, as int8."""
        out = np.empty(n, dtype=np.int8)
        done = 0
        while done < n:
            take = min(self.left, n - done)
            out[done : done + take] = self.state
            done += take
            self.left -= take
            if self.left == 0:
                self.state = self.next_state()
                self.left = self._duration(self.state)
        return out


class _VolRegime(_Chain):
    """Calm (0) and volatile (1), alternating."""

    def next_state(self) -> int:
        return 1 - self.state


class _Trend(_Chain):
    """No trend (0), then an episode up (+1) or down (-1) at random, then no trend again."""

    def next_state(self) -> int:
        if self.state != 0:
            return 0
        return 1 if self.rng.random() < 0.5 else -1


def ar1(shocks: np.ndarray, phi: float, x0: float) -> np.ndarray:
    """``y_t = phi * y_{t-1} + shocks_t`` with ``y_{-1} = x0``, without a Python loop per bar.

    Within a block of ``L`` bars, ``y_t = phi**t * (phi * y_{-1} + cumsum(shocks_s *
    phi**-s))``; ``L`` keeps ``phi**-L`` far from overflow, and only the block starts are
    carried in a loop. Rounding errors stay relative to ``|y|``, not to the rescaled sums.
    """
    n = shocks.shape[0]
    if phi == 0.0 or n == 0:
        return shocks.astype(np.float64, copy=True)
    block = max(1, min(n, int(_MAX_LOG_GROWTH / -math.log(phi))))
    t = np.arange(block, dtype=np.float64)
    grow, shrink = phi**-t, phi**t
    out = np.empty(n, dtype=np.float64)
    carry = x0
    for start in range(0, n, block):
        stop = min(n, start + block)
        k = stop - start
        part = np.cumsum(shocks[start:stop] * grow[:k])
        part += phi * carry
        part *= shrink[:k]
        out[start:stop] = part
        carry = float(part[-1])
    return out


def generate_market(n_bars: int, seed: int, config: MarketConfig | None = None) -> np.ndarray:
    """``n_bars`` bars of the market ``config`` describes, as an (n_bars, 4) float64 array of
    [open, high, low, close]; bit-identical for the same arguments on the same machine."""
    cfg = config or MarketConfig()
    if isinstance(n_bars, bool) or not isinstance(n_bars, (int, np.integer)) or n_bars < 1:
        raise ConfigError(f"the market needs n_bars >= 1, got {n_bars!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**63:
        raise ConfigError(f"the market's seed must be an integer in [0, 2**63), got {seed!r}")
    n_bars, seed = int(n_bars), int(seed)
    rng = {s: numpy_generator(seed, s) for s in (_INNOVATION, _VOL, _HIGH, _LOW, _GAP, _GAP_SIZE)}
    regime_rng, trend_rng = numpy_generator(seed, _REGIME), numpy_generator(seed, _TREND)
    calm_share = cfg.calm_duration / (cfg.calm_duration + cfg.volatile_duration)
    regime = _VolRegime(
        regime_rng,
        {0: cfg.calm_duration, 1: cfg.volatile_duration},
        0 if regime_rng.random() < calm_share else 1,
    )
    trend_share = cfg.trend_duration / (cfg.trend_duration + cfg.trend_gap)
    first_trend = (
        0 if trend_rng.random() >= trend_share else (1 if trend_rng.random() < 0.5 else -1)
    )
    trend = _Trend(trend_rng, {0: cfg.trend_gap, 1: cfg.trend_duration}, first_trend)

    t_scale = math.sqrt((cfg.tail_df - 2.0) / cfg.tail_df)  # unit-variance Student-t
    shock_scale = math.sqrt(1.0 - cfg.vol_memory**2) * cfg.vol_of_vol
    log_vol = float(rng[_VOL].standard_normal()) * cfg.vol_of_vol  # stationary start
    log_close = 0.0  # relative to start_price, so the first open is start_price exactly
    regime_mult = np.array([1.0, cfg.volatile_multiplier])

    out = np.empty((n_bars, 4), dtype=np.float64)
    for start in range(0, n_bars, CHUNK_BARS):
        n = min(CHUNK_BARS, n_bars - start)
        h = ar1(rng[_VOL].standard_normal(n) * shock_scale, cfg.vol_memory, log_vol)
        log_vol = float(h[-1])
        sigma = np.exp(h)
        sigma *= cfg.vol
        sigma *= regime_mult[regime.fill(n)]
        r = rng[_INNOVATION].standard_t(cfg.tail_df, n)
        r *= t_scale
        r += cfg.trend_drift * trend.fill(n)
        r *= sigma
        gap = np.zeros(n)
        if cfg.gap_prob > 0:  # own streams: the other components never shift with gap_prob
            gapped = rng[_GAP].random(n) < cfg.gap_prob
            size = rng[_GAP_SIZE].standard_t(cfg.tail_df, int(gapped.sum()))
            gap[gapped] = size * (t_scale * cfg.gap_size) * sigma[gapped]
        # exact maximum (minimum) of a Brownian bridge from 0 to r with volatility sigma
        var2 = 2.0 * sigma * sigma
        up = 0.5 * (r + np.sqrt(r * r - var2 * np.log1p(-rng[_HIGH].random(n))))
        down = 0.5 * (r - np.sqrt(r * r - var2 * np.log1p(-rng[_LOW].random(n))))

        log_c = np.cumsum(gap + r)
        log_c += log_close
        log_o = np.empty(n)
        log_o[0] = log_close
        log_o[1:] = log_c[:-1]
        log_o += gap  # without a gap, a bar opens exactly at the last close
        log_close = float(log_c[-1])
        bars = out[start : start + n]
        with np.errstate(over="ignore", under="ignore"):  # checked below, with a named error
            bars[:, 0] = np.exp(log_o)
            bars[:, 3] = np.exp(log_c)
            bars[:, 1] = np.exp(log_o + up)
            bars[:, 2] = np.exp(log_o + down)
            bars *= cfg.start_price
        # rounding of exp can cost an ulp: keep the bar possible exactly
        np.maximum(bars[:, 1], np.maximum(bars[:, 0], bars[:, 3]), out=bars[:, 1])
        np.minimum(bars[:, 2], np.minimum(bars[:, 0], bars[:, 3]), out=bars[:, 2])
        if not (np.isfinite(bars[:, 1]).all() and bars[:, 2].min() > 0):  # NaN fails both
            raise ConfigError(
                f"the market's prices leave float64's range within bars {start}..{start + n}; "
                "lower vol, volatile_multiplier or vol_of_vol, or ask for fewer bars"
            )
    return out
