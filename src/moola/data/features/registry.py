"""Per-bar "relativity" features built from OHLC, in named groups and named sets.

The features contain no absolute prices, so a model trained on one instrument or price
level transfers to another: multiplying every price by a positive factor leaves them
unchanged (up to float rounding). They are causal: bar t's features use only bars
``0..t`` of its own window (the position encoding depends on nothing at all), so a model
can never peek at the future. Everything is computed in float64 and returned as float32.

Groups, in registry (= output) order; each module documents its features one by one:

- ``candle`` (6): where open and close sit in the bar's range, body and wick shares, and
  ``range_z`` = range / EMA-20 of the range (below).
- ``swing`` (6): the original's swing features from a causal ATR(10) zigzag
  (:mod:`moola.data.features.swing`).
- ``move`` (3): volatility-scaled cross-bar moves (:mod:`moola.data.features.move`).
- ``position`` (1): t / (K - 1).

A *feature set* is a set name from :data:`FEATURE_SETS` (``original`` = candle, swing,
position: the original's 13 features in their order) or comma-separated group names.
Groups always come out in registry order, whatever order they are named in, so two
spellings of one set give the same columns (and the same model input).

Speed: the builder converts and validates once, transposes to bar-major (K, N) columns
(:class:`moola.data.features.candles.Candles`) and loops at most over the K bar positions, with
numpy work over all windows at once. The longest loop, the swing group's zigzag (a third
of the time, in small numpy calls that release the GIL), runs in a second thread while the
other groups compute (``FeatureGroup.start``; ``threaded=False`` keeps one thread).
:mod:`tests.helpers.reference_features` is the plain per-bar loop the tests hold it to, bit
for bit, either way.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from moola.data.features.candles import Candles, FeatureSettings
from moola.data.features.move import MOVE_FEATURES, move_features
from moola.data.features.swing import SWING_FEATURES, start_zigzag, swing_features
from moola.data.windows import ohlc_is_valid, validate_ohlc
from moola.errors import ConfigError, InputValidationError

#: A feature group: (candles, settings) -> its columns, each bar-major (K, N) float64.
FeatureFn = Callable[[Candles, FeatureSettings], list[np.ndarray]]


@dataclass(frozen=True)
class FeatureGroup:
    """A set of features computed together, with their names in output order.

    ``start``, when given, starts the group's slowest part in another thread before any
    group computes (``build_features(threaded=True)``); ``compute`` collects it through
    ``Candles.background``. Groups with a ``start`` compute last, so that the others overlap it.
    """

    names: tuple[str, ...]
    compute: FeatureFn
    start: Callable[[Candles, FeatureSettings], None] | None = None


def candle_features(candles: Candles, settings: FeatureSettings) -> list[np.ndarray]:
    """Where open and close sit in the bar's range, body and wick shares, and range vs its EMA.

    ============== ============================================ =======
    open_norm      (open - low) / range; 0.5 on a zero range     [0, 1]
    close_norm     (close - low) / range; 0.5 on a zero range    [0, 1]
    body_pct       (close - open) / range; 0 on a zero range     [-1, 1]
    upper_wick_pct (high - max(open, close)) / range             [0, 1]
    lower_wick_pct (min(open, close) - low) / range              [0, 1]
    range_z        range / EMA-20(range); 0 while the EMA is 0   [0, 3]
    ============== ============================================ =======
    """
    top = np.maximum(candles.open, candles.close)
    bottom = np.minimum(candles.open, candles.close)
    return [
        candles.share(candles.open - candles.low, 0.5),
        candles.share(candles.close - candles.low, 0.5),
        candles.body_pct,
        candles.share(np.subtract(candles.high, top, out=top), 0.0),
        candles.share(np.subtract(bottom, candles.low, out=bottom), 0.0),
        candles.range_z(settings.ema_span),
    ]


def position_feature(candles: Candles, settings: FeatureSettings) -> list[np.ndarray]:
    """t / (K - 1): tells a pooled model where in the window a bar sits. In [0, 1]."""
    k, n = candles.n_bars, candles.n_windows
    position = np.arange(k, dtype=np.float64) / (k - 1)
    return [np.broadcast_to(position[:, None], (k, n))]


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
    "swing": FeatureGroup(SWING_FEATURES, swing_features, start=start_zigzag),
    "move": FeatureGroup(MOVE_FEATURES, move_features),
    "position": FeatureGroup(("position",), position_feature),
}

#: Named feature sets (group names in registry order).
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "original": ("candle", "swing", "position"),
    "all": ("candle", "swing", "move", "position"),
}

#: The feature set of ``moola train`` / ``moola diagnose`` / WindowDataset when none is named.
#: ``all`` because the real-data league table (QUALITY.md) says so: with the original 13 the
#: binary head stayed below its constant's span F1 on EURUSD; adding the ``move`` group made
#: every head learn on EURUSD and on the held-out GOOG.
DEFAULT_FEATURE_SET = "all"


def resolve_feature_set(spec: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The group names of a feature set: a set name, or group names (comma-separated or a list).

    Groups come back in registry order; unknown or repeated names are a ConfigError that
    lists the valid ones.
    """
    if isinstance(spec, str):
        if spec.strip() in FEATURE_SETS:
            return FEATURE_SETS[spec.strip()]
        names = [part.strip() for part in spec.split(",")]
    elif isinstance(spec, (tuple, list)) and all(isinstance(p, str) for p in spec):
        names = [part.strip() for part in spec]
    else:
        raise ConfigError(f"a feature set must be a string, got {spec!r}")
    valid = (
        f"valid sets: {', '.join(FEATURE_SETS)}; valid groups: {', '.join(FEATURE_GROUPS)} "
        "(comma-separated)"
    )
    unknown = [name for name in names if name not in FEATURE_GROUPS]
    if unknown or not names:
        raise ConfigError(f"unknown feature set or group {', '.join(map(repr, unknown))}; {valid}")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ConfigError(f"feature group(s) named twice: {', '.join(repeated)}; {valid}")
    return tuple(group for group in FEATURE_GROUPS if group in names)


def feature_names(spec: str | tuple[str, ...] | list[str] = DEFAULT_FEATURE_SET) -> tuple[str, ...]:
    """The feature (column) names of a feature set, in output order."""
    return tuple(
        name for group in resolve_feature_set(spec) for name in FEATURE_GROUPS[group].names
    )


#: The default set's feature names (the original's 13 while the default is ``original``).
FEATURE_NAMES: tuple[str, ...] = feature_names(DEFAULT_FEATURE_SET)


def as_ohlc_array(ohlc: object) -> np.ndarray:
    """(N, K, 4) or (K, 4) float64 from an array, tensor or nested sequence."""
    if hasattr(ohlc, "detach") and hasattr(ohlc, "cpu"):
        ohlc = ohlc.detach().cpu().numpy()
    try:
        arr = np.asarray(ohlc, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputValidationError(f"ohlc must be a numeric array: {exc}") from exc
    if arr.ndim not in (2, 3) or arr.shape[-1] != 4:
        raise InputValidationError(
            f"ohlc must have shape (N, K, 4) or (K, 4) with columns [open, high, low, close], "
            f"got {tuple(arr.shape)}"
        )
    return arr


def build_features(
    ohlc: object,
    *,
    feature_set: str | tuple[str, ...] | list[str] = DEFAULT_FEATURE_SET,
    ema_span: int = 20,
    threaded: bool = True,
) -> np.ndarray:
    """Features for (N, K, 4) or (K, 4) OHLC -> (N, K, F) or (K, F) float32.

    Columns follow :func:`feature_names` of ``feature_set``. Zero-range bars and constant
    prices give the documented neutral values, never NaN. ``threaded`` runs the swing
    group's zigzag in a second thread while the other features are computed: faster when a
    core is free, and the same result, bit for bit, either way.
    """
    if isinstance(ema_span, bool) or not isinstance(ema_span, numbers.Integral) or ema_span < 1:
        raise ConfigError(f"ema_span must be an integer >= 1, got {ema_span!r}")
    groups = resolve_feature_set(feature_set)
    arr = as_ohlc_array(ohlc)
    single = arr.ndim == 2
    if single:
        arr = arr[None]
    if arr.shape[1] < 2:
        validate_ohlc(arr)  # raises the "at least 2 bars" error
    candles = Candles.from_ohlc(arr)
    if not ohlc_is_valid(candles.open, candles.high, candles.low, candles.close):
        validate_ohlc(arr)  # finds and names the first bad bar
    settings = FeatureSettings(ema_span=int(ema_span))
    first_column, n_features = {}, 0
    for group in groups:
        first_column[group] = n_features
        n_features += len(FEATURE_GROUPS[group].names)
        start = FEATURE_GROUPS[group].start
        if threaded and start is not None:
            start(candles, settings)
    # (K, N, F) first, then one transpose that moves each bar's F features as one opaque
    # record (a void dtype: numpy copies it as a block, about twice as fast as floats).
    out = np.empty((candles.n_bars, candles.n_windows, n_features), dtype=np.float32)
    # the groups that started work in the background come last, so the others overlap it
    for group in sorted(groups, key=lambda name: FEATURE_GROUPS[name].start is not None):
        for j, column in enumerate(FEATURE_GROUPS[group].compute(candles, settings)):
            out[:, :, first_column[group] + j] = column
    records = out.view(np.dtype((np.void, 4 * n_features)))  # (K, N, 1)
    features = np.ascontiguousarray(records.transpose(1, 0, 2)).view(np.float32)
    return features[0] if single else features
