"""Per-bar "relativity" features built from OHLC.

The features contain no absolute prices, so a model trained on one instrument or price
level transfers to another: multiplying every price by a positive factor leaves them
unchanged (up to float rounding). They are causal: bar t's features use only bars
``0..t`` (the position encoding depends on nothing at all), so a model can never peek at
the future. Everything is computed for all bars at once in float64 and returned as float32.

Features come in *groups*, registered in :data:`FEATURE_GROUPS` in output order. The
original model also had a ``swing`` group (``dist_to_prev_swing_high``,
``dist_to_prev_swing_low``, ``bars_since_swing_high``, ``bars_since_swing_low``,
``expansion_proxy``, ``consolidation_proxy``) computed from a causal ATR(10) zigzag with
confirmation at 1.2 x ATR and a 15-bar warm-up. It is not implemented yet; to add it,
write a function with the :data:`FeatureFn` signature, register it here between
``candle`` and ``position`` and let :func:`build_features` select it.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from moola.data.windows import validate_ohlc
from moola.errors import ConfigError, InputValidationError


@dataclass(frozen=True)
class FeatureSettings:
    """Parameters shared by the feature groups (grows when new groups need knobs)."""

    ema_span: int = 20


@dataclass(frozen=True)
class Candles:
    """The OHLC columns of (N, K) bars in float64, plus the range every group needs."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray

    @property
    def range(self) -> np.ndarray:
        return self.high - self.low


#: A feature group: (candles, settings) -> (N, K, n_features_in_group) float64.
FeatureFn = Callable[[Candles, FeatureSettings], np.ndarray]


@dataclass(frozen=True)
class FeatureGroup:
    """A set of features computed together, with their names in output order."""

    names: tuple[str, ...]
    compute: FeatureFn


def _share_of_range(numerator: np.ndarray, rng: np.ndarray, fill: float) -> np.ndarray:
    """``numerator / range`` with ``fill`` on zero-range bars, where the ratio is undefined."""
    out = np.full_like(numerator, fill)
    np.divide(numerator, rng, out=out, where=rng > 0)
    return out


def ema_weights(window: int, span: int) -> np.ndarray:
    """Lower-triangular (K, K) matrix W with ``ema = values @ W.T``.

    The EMA is ``e_0 = x_0`` and ``e_t = a x_t + (1 - a) e_{t-1}`` with ``a = 2 / (span + 1)``,
    i.e. ``W[t, 0] = (1-a)^t`` and ``W[t, j] = a (1-a)^(t-j)`` for ``1 <= j <= t``.
    Powers of ``1 - a`` only shrink (they underflow to 0, never overflow), and the
    zeros above the diagonal make the EMA exactly causal.
    """
    alpha = 2.0 / (span + 1.0)
    beta = 1.0 - alpha
    t = np.arange(window)
    lag = t[:, None] - t[None, :]
    weights = np.where(lag >= 0, alpha * np.power(beta, np.maximum(lag, 0)), 0.0)
    weights[:, 0] = np.power(beta, t)
    return weights


def candle_features(candles: Candles, settings: FeatureSettings) -> np.ndarray:
    """Where open and close sit in the bar's range, body and wick shares, and range vs its EMA."""
    rng = candles.range
    top = np.maximum(candles.open, candles.close)
    bottom = np.minimum(candles.open, candles.close)
    ema = rng @ ema_weights(rng.shape[-1], settings.ema_span).T
    range_z = np.zeros_like(rng)
    np.divide(rng, ema, out=range_z, where=ema > 0)
    columns = [
        _share_of_range(candles.open - candles.low, rng, 0.5),  # open_norm
        _share_of_range(candles.close - candles.low, rng, 0.5),  # close_norm
        _share_of_range(candles.close - candles.open, rng, 0.0),  # body_pct
        _share_of_range(candles.high - top, rng, 0.0),  # upper_wick_pct
        _share_of_range(bottom - candles.low, rng, 0.0),  # lower_wick_pct
        np.clip(range_z, 0.0, 3.0),  # range_z
    ]
    return np.stack(columns, axis=-1)


def position_feature(candles: Candles, settings: FeatureSettings) -> np.ndarray:
    """t / (K - 1): tells a pooled model where in the window a bar sits."""
    n, k = candles.open.shape
    position = np.arange(k, dtype=np.float64) / (k - 1)
    return np.broadcast_to(position, (n, k))[..., None]


CANDLE_FEATURES: tuple[str, ...] = (
    "open_norm",
    "close_norm",
    "body_pct",
    "upper_wick_pct",
    "lower_wick_pct",
    "range_z",
)

#: Registered groups, in output order.
FEATURE_GROUPS: dict[str, FeatureGroup] = {
    "candle": FeatureGroup(CANDLE_FEATURES, candle_features),
    # "swing": planned, see the module docstring.
    "position": FeatureGroup(("position",), position_feature),
}

FEATURE_NAMES: tuple[str, ...] = (*CANDLE_FEATURES, "position")


def build_features(
    ohlc: np.ndarray, *, ema_span: int = 20, include_position: bool = True
) -> np.ndarray:
    """Features for (N, K, 4) or (K, 4) OHLC -> (N, K, F) or (K, F) float32.

    Columns follow :data:`FEATURE_NAMES` (without ``position`` when ``include_position``
    is False). Zero-range bars get open/close norms 0.5, shares 0 and range_z 0 where
    the EMA is still 0, never NaN.
    """
    if isinstance(ema_span, bool) or not isinstance(ema_span, numbers.Integral) or ema_span < 1:
        raise ConfigError(f"ema_span must be an integer >= 1, got {ema_span!r}")
    if hasattr(ohlc, "detach") and hasattr(ohlc, "cpu"):
        ohlc = ohlc.detach().cpu().numpy()
    try:
        arr = np.asarray(ohlc, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputValidationError(f"ohlc must be a numeric array: {exc}") from exc
    single = arr.ndim == 2
    if arr.ndim not in (2, 3) or arr.shape[-1] != 4:
        raise InputValidationError(
            f"ohlc must have shape (N, K, 4) or (K, 4) with columns [open, high, low, close], "
            f"got {tuple(arr.shape)}"
        )
    if single:
        arr = arr[None]
    validate_ohlc(arr)

    candles = Candles(open=arr[..., 0], high=arr[..., 1], low=arr[..., 2], close=arr[..., 3])
    settings = FeatureSettings(ema_span=int(ema_span))
    groups = ["candle"] + (["position"] if include_position else [])
    features = np.concatenate(
        [FEATURE_GROUPS[g].compute(candles, settings) for g in groups], axis=-1
    )
    features = features.astype(np.float32)
    return features[0] if single else features
