"""A seeded synthetic market with planted expansion events: moola trains and tests without data.

Every window has three phases:

1. **consolidation** (bars ``0 .. start-1``): price jitters tightly around a fixed
   level (mean-reverting, small bodies and ranges);
2. **expansion** (bars ``start .. end``): a strong directional move, up or down at
   random, with large bodies and ranges;
3. **aftermath** (bars ``end+1 .. K-1``), which defines the type label:

   - 0 *consolidation*: price goes flat and tight at the new level;
   - 1 *retracement*: price gives back a large fraction of the expansion move;
   - 2 *continuation*: price keeps moving the same way at a milder pace.

Prices are built from multiplications, additions and ``cumprod`` only (no ``exp``),
so the same seed gives bit-identical arrays on every machine with the same numpy.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from moola.data.windows import LABEL_NAMES, OHLCWindows
from moola.errors import ConfigError

#: Smallest window the phase layout fits in (a few consolidation, expansion and aftermath bars).
MIN_SYNTHETIC_WINDOW = 16

#: Normal draws are clipped to this many standard deviations so every price stays positive.
_CLIP_SIGMA = 5.0


@dataclass(frozen=True)
class SyntheticConfig:
    """Knobs of the synthetic market. Ranges are ``(low, high)`` and drawn uniformly per window.

    Volatilities are relative to price (0.002 = 0.2 %), so the data is scale-free.
    """

    n_windows: int = 1024
    window: int = 105
    seed: int = 0
    #: Typical price at bar 0; each window's base is spread by ``base_price_spread`` (relative).
    base_price: float = 100.0
    base_price_spread: float = 0.2
    #: Expansion start as a fraction of K; 0.15 keeps >= 16 quiet bars at K=105 (the EMA warms up).
    start_fraction: tuple[float, float] = (0.15, 0.45)
    #: Expansion length as a fraction of K (at least ``min_expansion_bars``).
    length_fraction: tuple[float, float] = (0.06, 0.20)
    min_expansion_bars: int = 2
    #: Relative jitter of closes around the drift path outside the expansion.
    consolidation_vol: float = 0.002
    #: Relative size of wicks beyond the body outside the expansion.
    consolidation_wick: float = 0.0015
    #: Per-bar relative move during the expansion (the direction is random).
    expansion_drift: tuple[float, float] = (0.008, 0.016)
    #: Relative jitter of closes during the expansion.
    expansion_vol: float = 0.002
    #: Relative size of wicks beyond the body during the expansion.
    expansion_wick: float = 0.003
    #: Relative gap between one bar's close and the next bar's open.
    gap_vol: float = 0.0003
    #: Share of the expansion's price move that a retracement gives back.
    retracement_fraction: tuple[float, float] = (0.5, 0.9)
    #: How long a retracement takes, in expansion lengths (capped by the bars left).
    retracement_duration: tuple[float, float] = (1.5, 3.0)
    #: Continuation per-bar move, as a fraction of the expansion's per-bar move.
    continuation_pace: tuple[float, float] = (0.25, 0.5)
    #: Probability of each label, in ``LABEL_NAMES`` order.
    class_weights: tuple[float, float, float] = (1 / 3, 1 / 3, 1 / 3)

    def __post_init__(self) -> None:
        _check_config(self)


def _check_range(name: str, pair: tuple[float, float], low: float, high: float) -> None:
    if len(pair) != 2 or not (low <= pair[0] <= pair[1] <= high):
        raise ConfigError(f"{name} must be (lo, hi) with {low} <= lo <= hi <= {high}, got {pair}")


def _check_config(cfg: SyntheticConfig) -> None:
    """Reject settings that would break the phase layout or produce non-positive prices."""
    for name in ("n_windows", "window", "seed", "min_expansion_bars"):
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ConfigError(f"{name} must be an integer, got {value!r}")
    if cfg.n_windows < 0:
        raise ConfigError(f"n_windows must be >= 0, got {cfg.n_windows}")
    if cfg.window < MIN_SYNTHETIC_WINDOW:
        raise ConfigError(f"window must be >= {MIN_SYNTHETIC_WINDOW} bars, got {cfg.window}")
    if cfg.seed < 0:
        raise ConfigError(f"seed must be >= 0, got {cfg.seed}")
    if cfg.min_expansion_bars < 1:
        raise ConfigError(f"min_expansion_bars must be >= 1, got {cfg.min_expansion_bars}")
    if not cfg.base_price > 0:
        raise ConfigError(f"base_price must be > 0, got {cfg.base_price}")
    if not 0 <= cfg.base_price_spread < 0.5:
        raise ConfigError(f"base_price_spread must be in [0, 0.5), got {cfg.base_price_spread}")
    for name in (
        "consolidation_vol",
        "consolidation_wick",
        "expansion_vol",
        "expansion_wick",
        "gap_vol",
    ):
        value = getattr(cfg, name)
        if not 0 <= value <= 0.1:
            raise ConfigError(f"{name} must be in [0, 0.1], got {value}")
    _check_range("start_fraction", cfg.start_fraction, 0.0, 1.0)
    _check_range("length_fraction", cfg.length_fraction, 0.0, 1.0)
    _check_range("expansion_drift", cfg.expansion_drift, 0.0, 0.1)
    _check_range("retracement_fraction", cfg.retracement_fraction, 0.0, 1.0)
    _check_range("retracement_duration", cfg.retracement_duration, 1e-6, 1e6)
    _check_range("continuation_pace", cfg.continuation_pace, 0.0, 1.0)
    weights = np.asarray(cfg.class_weights, dtype=np.float64)
    if weights.shape != (len(LABEL_NAMES),) or (weights < 0).any() or not weights.sum() > 0:
        raise ConfigError(
            f"class_weights must be {len(LABEL_NAMES)} non-negative numbers with a positive sum, "
            f"got {cfg.class_weights}"
        )
    _, last, _, longest = _layout(cfg)
    if last + longest > cfg.window - 2:
        raise ConfigError(
            f"start_fraction={cfg.start_fraction} and length_fraction={cfg.length_fraction} leave "
            f"fewer than 2 aftermath bars in a {cfg.window}-bar window"
        )


def _layout(cfg: SyntheticConfig) -> tuple[int, int, int, int]:
    """Expansion bounds for window K: (first start, last start, min length, max length)."""
    k = cfg.window
    first = max(2, round(cfg.start_fraction[0] * k))
    last = max(first, round(cfg.start_fraction[1] * k))
    shortest = max(cfg.min_expansion_bars, round(cfg.length_fraction[0] * k))
    longest = max(shortest, round(cfg.length_fraction[1] * k))
    return first, last, shortest, longest


def _normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return np.clip(rng.standard_normal(shape), -_CLIP_SIGMA, _CLIP_SIGMA)


def _uniform(rng: np.random.Generator, pair: tuple[float, float], n: int) -> np.ndarray:
    return rng.uniform(pair[0], pair[1], size=n)


def generate_synthetic(config: SyntheticConfig | None = None, **overrides: Any) -> OHLCWindows:
    """Generate ``n_windows`` labelled windows; keyword overrides replace config fields.

    ``generate_synthetic(n_windows=64, seed=3)`` is the same as
    ``generate_synthetic(SyntheticConfig(n_windows=64, seed=3))``.
    """
    cfg = config if config is not None else SyntheticConfig()
    if overrides:
        known = {f.name for f in dataclasses.fields(SyntheticConfig)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ConfigError(
                f"unknown synthetic option(s) {unknown}; known options are {sorted(known)}"
            )
        cfg = dataclasses.replace(cfg, **overrides)

    n, k = cfg.n_windows, cfg.window
    rng = np.random.default_rng(cfg.seed)
    first, last, shortest, longest = _layout(cfg)

    # Per-window event parameters. The draw order is fixed: changing it changes every data set.
    weights = np.asarray(cfg.class_weights, dtype=np.float64)
    label = rng.choice(len(LABEL_NAMES), size=n, p=weights / weights.sum()).astype(np.int64)
    direction = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    start = rng.integers(first, last, size=n, endpoint=True)
    length = rng.integers(shortest, longest, size=n, endpoint=True)
    end = start + length - 1
    drift = _uniform(rng, cfg.expansion_drift, n)
    base = cfg.base_price * (
        1.0 + _uniform(rng, (-cfg.base_price_spread, cfg.base_price_spread), n)
    )
    retrace = _uniform(rng, cfg.retracement_fraction, n)
    retrace_bars = _uniform(rng, cfg.retracement_duration, n) * length
    pace = _uniform(rng, cfg.continuation_pace, n) * drift

    # Per-bar noise.
    close_noise = _normal(rng, (n, k))
    gap_noise = _normal(rng, (n, k))
    upper_noise = np.abs(_normal(rng, (n, k)))
    lower_noise = np.abs(_normal(rng, (n, k)))
    first_open_noise = _normal(rng, (n,))

    t = np.arange(k)[None, :]
    s, e = start[:, None], end[:, None]
    in_expansion = (t >= s) & (t <= e)
    after = t > e
    d = direction[:, None]

    # Drift path relative to the base (1.0 before the expansion): multiplicative steps.
    step = np.ones((n, k))
    step = np.where(in_expansion, 1.0 + d * drift[:, None], step)
    step = np.where(after & (label[:, None] == 2), 1.0 + d * pace[:, None], step)
    path = np.cumprod(step, axis=1)

    # Retracement: give back `retrace` of the price move linearly over `retrace_bars`, then hold.
    peak = path[np.arange(n), end][:, None]
    bars_left = (k - 1 - end)[:, None]
    duration = np.clip(retrace_bars[:, None], 1.0, bars_left)
    progress = np.clip((t - e) / duration, 0.0, 1.0)
    retraced = peak - retrace[:, None] * (peak - 1.0) * progress
    path = np.where(after & (label[:, None] == 1), retraced, path)

    close_vol = np.where(in_expansion, cfg.expansion_vol, cfg.consolidation_vol)
    close = base[:, None] * path * (1.0 + close_vol * close_noise)

    previous_close = np.concatenate(
        [(base * (1.0 + cfg.consolidation_vol * first_open_noise))[:, None], close[:, :-1]], axis=1
    )
    open_ = previous_close * (1.0 + cfg.gap_vol * gap_noise)

    wick = np.where(in_expansion, cfg.expansion_wick, cfg.consolidation_wick)
    high = np.maximum(open_, close) * (1.0 + wick * upper_noise)
    low = np.minimum(open_, close) * (1.0 - wick * lower_noise)

    ohlc = np.stack([open_, high, low, close], axis=-1)
    return OHLCWindows(ohlc=ohlc, label=label, expansion_start=start, expansion_end=end)
