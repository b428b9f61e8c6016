"""Signal-free data: a random-walk series cut into overlapping windows, labels drawn blind.

The verdict's promise is that a head is called "learned" only when it learned signal. This
generator is the data on which no head can learn signal: the labels are drawn from their own
random stream, independent of the prices, yet they have a *prior* a model can pick up (the
expansion tends to start in one part of the window, the classes are unbalanced). Windows are
cut every ``stride`` bars from one series, so neighbours share bars as in real pre-cut files,
and they come **without** ``start_bar`` (like the original parquet schema), so the split has
to find the shared bars itself (:mod:`moola.data.overlap`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from moola.data.windows import OHLCWindows
from moola.errors import ConfigError
from moola.seeding import numpy_generator

_PRICE_STREAM, _LABEL_STREAM = 1, 2


@dataclass(frozen=True)
class SignalFreeConfig:
    """Knobs of the signal-free set (bars, window cut, label prior); ``seed`` fixes both streams."""

    n_bars: int = 3000
    window: int = 105
    stride: int = 15
    seed: int = 0
    vol: float = 0.002  # relative per-bar move of the random walk
    start_range: tuple[int, int] = (15, 60)  # expansion start, uniform (inclusive)
    length_range: tuple[int, int] = (3, 20)  # expansion length in bars, uniform (inclusive)
    class_weights: tuple[float, float, float] = (0.45, 0.35, 0.20)

    def __post_init__(self) -> None:
        if self.window < 2 or self.stride < 1 or self.n_bars < self.window:
            raise ConfigError(
                f"signal-free data needs window >= 2, stride >= 1 and n_bars >= window, got "
                f"window={self.window}, stride={self.stride}, n_bars={self.n_bars}"
            )
        lo, hi = self.start_range
        if not 0 <= lo <= hi or hi + self.length_range[1] > self.window:
            raise ConfigError(
                f"start_range {self.start_range} and length_range {self.length_range} must fit "
                f"in a {self.window}-bar window"
            )


def random_walk_series(n_bars: int, *, seed: int, vol: float = 0.002) -> np.ndarray:
    """A (T, 4) [open, high, low, close] random walk: each bar opens at the last close."""
    rng = numpy_generator(seed, _PRICE_STREAM)
    close = 100.0 * np.cumprod(1.0 + vol * np.clip(rng.standard_normal(n_bars), -5, 5))
    open_ = np.concatenate([[100.0], close[:-1]])
    wick_up, wick_down = vol * rng.random(n_bars), vol * rng.random(n_bars)
    high = np.maximum(open_, close) * (1.0 + wick_up)
    low = np.minimum(open_, close) * (1.0 - wick_down)
    return np.stack([open_, high, low, close], axis=1)


def generate_signal_free(config: SignalFreeConfig | None = None) -> OHLCWindows:
    """Overlapping windows of a random walk with labels independent of the prices."""
    cfg = config or SignalFreeConfig()
    bars = random_walk_series(cfg.n_bars, seed=cfg.seed, vol=cfg.vol)
    starts = np.arange(0, cfg.n_bars - cfg.window + 1, cfg.stride)
    ohlc = np.stack([bars[s : s + cfg.window] for s in starts])
    rng = numpy_generator(cfg.seed, _LABEL_STREAM)
    n = len(starts)
    weights = np.asarray(cfg.class_weights, dtype=np.float64)
    label = rng.choice(len(weights), size=n, p=weights / weights.sum())
    begin = rng.integers(cfg.start_range[0], cfg.start_range[1] + 1, size=n)
    length = rng.integers(cfg.length_range[0], cfg.length_range[1] + 1, size=n)
    return OHLCWindows(ohlc, label, begin, begin + length - 1).validate()
