"""Windows as views over a series store: each bar's inputs computed once, windows drawn as views.

A window cut every bar from a series shares all but one of its bars with the next, so
building and keeping each window's features on their own costs K times the bars. A
:class:`SeriesStore` computes every bar's features once per series, keeps them as float32
per-bar arrays (in memory, or memory-mapped from a cache folder), and draws a batch of
windows as one gather of rows (:meth:`SeriesStore.gather`), with the targets built from each
window's labels when the batch is drawn (:meth:`SeriesStore.draw`).

Modules, one job each: ``plan`` (which columns are stored per bar, which are the window's
own; the input semantics), ``scan`` (the three recursions along a series, block by block),
``engine`` (the stored columns of series, from the registry's group code), ``layout``
(windows laid back onto their series, each shared bar once), ``store`` (the store and its
draws), ``arrays`` (its .npy files, written and mapped), ``digest`` (what names a cached
store and fingerprints its data), ``cache`` (where store folders live and how they are
committed), ``assemble`` (open a cached store or build one), ``build`` (stores of windows
or bar series), ``source`` (the store of a data file).

**The inputs** (README, "Inputs: per series or per window"): with ``series`` inputs (the
default, except for ``original``) a bar's features are its series' up to that bar; with
``window`` inputs (the default of ``original``, and what windows that share no bars get
either way) every window is its own series: exactly :func:`moola.data.build_features`.
"""

from moola.data.store.arrays import StoreDamaged, StoreError
from moola.data.store.build import build_series_store, build_store
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
    "StoreDamaged",
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
