"""Labelled OHLC windows, as an import DAG with one home per concept:

``windows`` (the container) <- ``labeling`` (the rule, pure) and ``synthetic`` (labelled
windows with planted events); ``market`` (a realistic synthetic bar series, unlabelled);
``files`` (formats, optional pyarrow); ``sources`` (synthetic | synthetic:BARS[:seed] |
backtesting:NAME | file | folder | series, on top of files + labeling + synthetic +
market); ``features/`` (groups + registry) <- ``dataset`` (the torch dataset) and
``split_features`` (float32 features of both splits, chunk by chunk); ``overlap``
(shared-bar detection) <- ``splits`` (every rule that splits: random, purged chronological,
per series, the split moola trains with, walk-forward folds); ``fingerprint`` (the data
hash the resume guard checks); ``pooled`` (several series in one dataset); ``signal_free``
(a generator whose labels carry no price signal, for the verdict's tests).

Importing the package imports no torch (the command line's help reads names from it); the
torch dataset, :class:`WindowDataset`, is imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from moola.data.features import (
    CANDLE_FEATURES,
    DEFAULT_FEATURE_SET,
    FEATURE_GROUPS,
    FEATURE_NAMES,
    FEATURE_SETS,
    MOVE_FEATURES,
    SWING_FEATURES,
    build_features,
    feature_names,
    resolve_feature_set,
)
from moola.data.files import (
    REQUIRED_COLUMNS,
    load_csv,
    load_parquet,
    read_series,
    save_parquet,
)
from moola.data.labeling import LabelRule, label_series
from moola.data.market import MarketConfig, generate_market
from moola.data.sources import REAL_SOURCES, label_file, load_windows, read_bars
from moola.data.splits import choose_split, chronological_split, split_windows, train_val_split
from moola.data.synthetic import SyntheticConfig, generate_synthetic
from moola.data.windows import (
    DEFAULT_WINDOW,
    LABEL_NAMES,
    OHLCWindows,
    WindowValidationError,
    validate_labels,
    validate_ohlc,
)

if TYPE_CHECKING:
    from moola.data.dataset import WindowDataset


def __getattr__(name: str) -> Any:
    if name == "WindowDataset":  # the one name here that needs torch
        value = importlib.import_module("moola.data.dataset").WindowDataset
        globals()[name] = value
        return value
    raise AttributeError(f"module 'moola.data' has no attribute {name!r}")


__all__ = [
    "CANDLE_FEATURES",
    "DEFAULT_FEATURE_SET",
    "DEFAULT_WINDOW",
    "FEATURE_GROUPS",
    "FEATURE_NAMES",
    "FEATURE_SETS",
    "LABEL_NAMES",
    "MOVE_FEATURES",
    "REAL_SOURCES",
    "REQUIRED_COLUMNS",
    "SWING_FEATURES",
    "LabelRule",
    "MarketConfig",
    "OHLCWindows",
    "SyntheticConfig",
    "WindowDataset",
    "WindowValidationError",
    "build_features",
    "choose_split",
    "chronological_split",
    "feature_names",
    "generate_market",
    "generate_synthetic",
    "label_file",
    "label_series",
    "load_csv",
    "load_parquet",
    "load_windows",
    "read_bars",
    "read_series",
    "resolve_feature_set",
    "save_parquet",
    "split_windows",
    "train_val_split",
    "validate_labels",
    "validate_ohlc",
]
