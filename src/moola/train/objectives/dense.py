"""Pretraining's data: every window of every bar series (stride 1), as views of a series store.

A corpus is any number of bar series (CSV or parquet as ``moola label`` reads them, and the
market ``synthetic:BARS[:seed]``). Their per-bar inputs are computed once, in a series
store (:mod:`moola.data.store`), and a window is its first bar's index into it: a corpus of
ten million bars costs its bars' features, not ten million windows'.

The split is moola's chronological rule (:func:`moola.data.splits.purged_masks`) applied
to each series' dense windows: its last ``val_fraction`` of bars is held out, the windows
that straddle the cut (and an ``embargo``) are purged. Validation evaluates at most
:data:`VAL_WINDOWS` held-out windows, evenly spaced in time (their overlap sets the
bootstrap's blocks); the priors are fitted on at most :data:`PRIOR_WINDOWS` training
windows (the reconstruction's on :data:`RECONSTRUCTION_PRIOR_WINDOWS`), evenly spaced too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from moola.data.sources import POOL_SEPARATOR, read_bars
from moola.data.splits import Split, SplitInfo, check_split_settings, purged_masks
from moola.data.store import SeriesStore, build_series_store
from moola.data.store.digest import array_digest
from moola.errors import ConfigError, DataValidationError
from moola.train.objectives.base import Part

#: Held-out windows evaluated at most (evenly spaced over the held-out bars).
VAL_WINDOWS = 2048
#: Training windows the priors are fitted on at most (evenly spaced).
PRIOR_WINDOWS = 4096
#: Of those, the reconstruction's prior (a value per bar position and feature: K·F columns,
#: each a Huber minimiser by bisection) is fitted on at most this many.
RECONSTRUCTION_PRIOR_WINDOWS = 1024


def corpus_sources(data: str) -> list[str]:
    """The sources of ``--data A --data B`` (joined as ``A|B``), in order, each once."""
    names = [s.strip() for s in str(data).split(POOL_SEPARATOR) if s.strip()]
    if not names:
        raise DataValidationError(
            "no bar series given: pass --data with a CSV or parquet bar file or "
            "synthetic:BARS[:seed]"
        )
    return list(dict.fromkeys(names))


@dataclass
class Corpus:
    """The store of a corpus and what the recipe says of each source."""

    store: SeriesStore
    #: Per source: its name, its bars and the digest of their values (the recipe's record).
    sources: list[dict[str, Any]]


def load_corpus(data: str, *, window: int, features: str) -> Corpus:
    """Read every source (checked: finite, possible bars, at least one window long; errors
    name the source) and build their store in memory, per-series inputs."""
    series, records = [], []
    for name in corpus_sources(data):
        bars = read_bars(name, window=window)
        series.append(bars)
        records.append(
            {"source": name, "bars": len(bars), "digest": array_digest(iter([("bars", bars)]))}
        )
    store = build_series_store(
        series, window=window, feature_set=features, notify=lambda message: None
    )
    return Corpus(store, records)


@dataclass
class DenseSplit:
    """Global starts of the training windows and of the evaluated held-out windows."""

    train: np.ndarray
    val: np.ndarray
    split: Split


def dense_split(
    store: SeriesStore, *, val_fraction: float, embargo: int, max_val: int = VAL_WINDOWS
) -> DenseSplit:
    """The chronological, purged split of every series' dense windows (module docstring)."""
    check_split_settings(val_fraction, embargo)
    k = store.window
    train_parts, val_parts, purged = [], [], 0
    offsets = store.offsets
    for s in range(len(offsets) - 1):
        starts = np.arange(offsets[s], offsets[s + 1] - k + 1, dtype=np.int64)
        if len(starts) == 0:
            continue
        train_mask, val_mask, _ = purged_masks(
            starts, window=k, val_fraction=val_fraction, embargo=embargo
        )
        train_parts.append(starts[train_mask])
        val_parts.append(starts[val_mask])
        purged += int(len(starts) - train_mask.sum() - val_mask.sum())
    train = np.concatenate(train_parts) if train_parts else np.zeros(0, dtype=np.int64)
    val_all = np.concatenate(val_parts) if val_parts else np.zeros(0, dtype=np.int64)
    if len(train) == 0 or len(val_all) == 0:
        raise ConfigError(
            f"the chronological split of {store.n_bars} bars ({len(offsets) - 1} series) leaves "
            f"{len(train)} training and {len(val_all)} validation windows of {k} bars; give "
            "longer series (or another --val-fraction)"
        )
    picked = evenly(len(val_all), max_val)
    val = val_all[picked]
    spacing = max(1, len(val_all) // max(1, len(val)))
    info = SplitInfo(
        "chronological",
        len(train),
        len(val),
        purged,
        len(offsets) - 1,
        embargo,
        f"every window of {len(offsets) - 1} series, each cut on its own; "
        f"{len(val)} of its {len(val_all)} held-out windows evaluated",
    )
    split = Split(
        train=np.arange(len(train), dtype=np.int64),
        val=np.arange(len(val), dtype=np.int64),
        val_order=np.arange(len(val), dtype=np.int64),
        overlap_run=max(1, math.ceil(k / spacing)),
        info=info,
    )
    return DenseSplit(train, val, split)


def evenly(n: int, at_most: int) -> np.ndarray:
    """``min(n, at_most)`` positions of ``range(n)``, evenly spaced, first and last included."""
    if n <= at_most:
        return np.arange(n, dtype=np.int64)
    return np.unique(np.linspace(0, n - 1, at_most).round().astype(np.int64))


@dataclass
class DensePart(Part):
    """Training windows of a series store, drawn by first bar when a batch is drawn.

    Nothing is held per window but its first bar (``starts``): ``x`` is empty and ``len``
    counts the windows. :meth:`take` gathers a batch's inputs from the store; the objective
    builds its targets (:mod:`moola.train.objectives.pretrain`).
    """

    store: SeriesStore | None = None
    starts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.starts)

    def starts_of(self, idx: torch.Tensor) -> np.ndarray:
        return self.starts[idx.detach().cpu().numpy()]

    def take(self, idx: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        assert self.store is not None
        return self.store.gather(self.starts_of(idx)), {}
