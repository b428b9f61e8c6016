"""Per-bar features in named groups (candle, swing, move, position) and named sets.

The registry (:mod:`moola.data.features.registry`) builds them; each group's module
documents its features one by one.
"""

from moola.data.features.move import MOVE_FEATURES
from moola.data.features.registry import (
    CANDLE_FEATURES,
    DEFAULT_FEATURE_SET,
    FEATURE_GROUPS,
    FEATURE_NAMES,
    FEATURE_SETS,
    FeatureGroup,
    as_ohlc_array,
    build_features,
    feature_names,
    resolve_feature_set,
)
from moola.data.features.swing import SWING_FEATURES

__all__ = [
    "CANDLE_FEATURES",
    "DEFAULT_FEATURE_SET",
    "FEATURE_GROUPS",
    "FEATURE_NAMES",
    "FEATURE_SETS",
    "MOVE_FEATURES",
    "SWING_FEATURES",
    "FeatureGroup",
    "as_ohlc_array",
    "build_features",
    "feature_names",
    "resolve_feature_set",
]
