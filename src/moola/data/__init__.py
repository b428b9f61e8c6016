"""Labelled OHLC windows: container, synthetic generator, features, loaders, torch dataset."""

from moola.data.dataset import (
    WindowDataset,
    chronological_split,
    split_windows,
    train_val_split,
)
from moola.data.features import CANDLE_FEATURES, FEATURE_NAMES, build_features
from moola.data.loaders import REQUIRED_COLUMNS, load_csv, load_parquet, load_windows, save_parquet
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
    "DEFAULT_WINDOW",
    "FEATURE_NAMES",
    "LABEL_NAMES",
    "REQUIRED_COLUMNS",
    "OHLCWindows",
    "SyntheticConfig",
    "WindowDataset",
    "WindowValidationError",
    "build_features",
    "chronological_split",
    "generate_synthetic",
    "load_csv",
    "load_parquet",
    "load_windows",
    "save_parquet",
    "split_windows",
    "train_val_split",
    "validate_labels",
    "validate_ohlc",
]
