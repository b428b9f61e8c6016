"""Labelled OHLC windows: container, synthetic generator, features, loaders, torch dataset."""

from moola.data.dataset import (
    WindowDataset,
    chronological_split,
    split_windows,
    train_val_split,
)
from moola.data.features import (
    CANDLE_FEATURES,
    DEFAULT_FEATURE_SET,
    FEATURE_GROUPS,
    FEATURE_NAMES,
    FEATURE_SETS,
    build_features,
    feature_names,
    resolve_feature_set,
)
from moola.data.loaders import REQUIRED_COLUMNS, load_csv, load_parquet, load_windows, save_parquet
from moola.data.move import MOVE_FEATURES
from moola.data.swing import SWING_FEATURES
from moola.data.synthetic import SyntheticConfig, generate_synthetic
from moola.data.windows import (
    DEFAULT_WINDOW,
    LABEL_NAMES,
    OHLCWindows,
    WindowValidationError,
    validate_labels,
    validate_ohlc,
)

__all__ = [
    "CANDLE_FEATURES",
    "DEFAULT_FEATURE_SET",
    "DEFAULT_WINDOW",
    "FEATURE_GROUPS",
    "FEATURE_NAMES",
    "FEATURE_SETS",
    "LABEL_NAMES",
    "MOVE_FEATURES",
    "REQUIRED_COLUMNS",
    "SWING_FEATURES",
    "OHLCWindows",
    "SyntheticConfig",
    "WindowDataset",
    "WindowValidationError",
    "build_features",
    "chronological_split",
    "feature_names",
    "generate_synthetic",
    "load_csv",
    "load_parquet",
    "load_windows",
    "resolve_feature_set",
    "save_parquet",
    "split_windows",
    "train_val_split",
    "validate_labels",
    "validate_ohlc",
]
