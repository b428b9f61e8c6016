"""Windows as views over a series store (placeholder docstring, rewritten below)."""

from moola.data.store.build import build_series_store, build_store
from moola.data.store.cache import StoreError
from moola.data.store.plan import ColumnPlan, resolve_semantics
from moola.data.store.source import open_store
from moola.data.store.store import (
    DenseWindows,
    SeriesStore,
    StoreInfo,
    TargetBuilder,
    WindowLabels,
    WindowTable,
)

__all__ = [
    "ColumnPlan",
    "DenseWindows",
    "SeriesStore",
    "StoreError",
    "StoreInfo",
    "TargetBuilder",
    "WindowLabels",
    "WindowTable",
    "build_series_store",
    "build_store",
    "open_store",
    "resolve_semantics",
]
