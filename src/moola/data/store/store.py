"""The series store: per-bar inputs kept once, windows drawn from them as (B, K, F) batches.

A :class:`SeriesStore` holds, for T bars of concatenated series (segments, see
:mod:`moola.data.store.layout`):

- ``block`` (T, S) float32: the stored feature columns of every bar (computed once);
- ``anchors`` (T, 2) float64: each bar's close and range EMA, for the window-anchored drift
  (only when the feature set has the ``move`` group);
- ``bars`` (T, 4) float64: the OHLC itself (for labelling or checking windows on the fly;
  ``series`` inputs only);
- a :class:`WindowTable` of labelled windows (global start and labels, per window), or none
  for unlabelled bars; :meth:`SeriesStore.dense` gives every window at a stride instead.

A window is its global start; its inputs are rows ``start .. start + K - 1`` of ``block``
with the anchored columns computed from its first bar (:meth:`SeriesStore.gather`): one
``index_select`` and a few elementwise operations, on the CPU or on the store's device.
Targets are made from the labels when a batch is drawn (:meth:`SeriesStore.draw`), so no
per-bar target array ever exists for the whole data set.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from moola.data.features.candles import FeatureSettings
from moola.data.features.move import DRIFT_LIMIT
from moola.data.store.arrays import read_rows
from moola.data.store.layout import window_view
from moola.data.store.plan import ColumnPlan
from moola.errors import InputValidationError


class TargetBuilder(Protocol):
    """What :meth:`SeriesStore.draw` needs of a task set (``moola.tasks.TaskSet`` is one)."""

    def build_targets(
        self, label: torch.Tensor, start: torch.Tensor, end: torch.Tensor, window: int
    ) -> dict[str, torch.Tensor]: ...


@dataclass(frozen=True)
class WindowTable:
    """Labelled windows, one row each, in the source's row order."""

    starts: np.ndarray  # (N,) int64: global start of each window in the store's bars
    labels: np.ndarray  # (N, 3) int32: label, expansion_start, expansion_end
    #: (N, 2) int64: the series key and start bar each window had in its source (what the
    #: splits cut on); the key numbers series as the layout did, start_bar as the source did.
    source: np.ndarray

    def __len__(self) -> int:
        return len(self.starts)


@dataclass(frozen=True)
class WindowLabels:
    """The labels of a batch of windows, as int64 tensors (what targets are built from)."""

    label: torch.Tensor
    expansion_start: torch.Tensor
    expansion_end: torch.Tensor


@dataclass(frozen=True)
class DenseWindows:
    """Every window at ``stride`` in every segment, numbered 0..len-1, without a table."""

    offsets: np.ndarray  # the store's segment offsets
    window: int
    stride: int
    cumulative: np.ndarray = field(init=False)  # windows in segments 0..s

    def __post_init__(self) -> None:
        lengths = np.diff(self.offsets)
        counts = np.where(lengths >= self.window, (lengths - self.window) // self.stride + 1, 0)
        object.__setattr__(self, "cumulative", np.cumsum(counts))

    def __len__(self) -> int:
        return int(self.cumulative[-1]) if len(self.cumulative) else 0

    def starts(self, rows: np.ndarray) -> np.ndarray:
        """Global starts of windows ``rows`` (int64)."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) and (rows.min() < 0 or rows.max() >= len(self)):
            raise InputValidationError(
                f"dense window index out of range: {len(self)} windows at stride {self.stride}"
            )
        segment = np.searchsorted(self.cumulative, rows, side="right")
        before = np.where(segment > 0, self.cumulative[np.maximum(segment - 1, 0)], 0)
        return self.offsets[segment] + (rows - before) * self.stride


@dataclass
class StoreInfo:
    """How the store came to be (reported by the CLI and recorded in metrics in phase B)."""

    semantics: str
    n_segments: int
    conflicts: int = 0  # windows stored on their own because their bars disagreed
    cache: str | None = None  # the cache folder, when the store lives on disk
    reused: bool = False  # opened from an existing cache (nothing rebuilt)
    notices: list[str] = field(default_factory=list)


def _tensor(array: np.ndarray) -> torch.Tensor:
    """A tensor over ``array``'s memory; a read-only memory map is only ever read."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(array)


class SeriesStore:
    """Per-bar inputs of series and the windows cut from them (see the module docstring)."""

    def __init__(
        self,
        *,
        window: int,
        plan: ColumnPlan,
        settings: FeatureSettings,
        offsets: np.ndarray,
        bars: np.ndarray | None,
        block: np.ndarray,
        anchors: np.ndarray | None,
        table: WindowTable | None,
        fingerprint: str | Callable[[], str],
        info: StoreInfo,
    ) -> None:
        self.window = int(window)
        self.plan = plan
        self.settings = settings
        self.offsets = offsets
        self.bars = bars
        self.block = block
        self.anchors = anchors
        self.table = table
        self._fingerprint = fingerprint
        self.info = info
        #: The file ``bars`` is mapped from (a cached store; None in memory): what
        #: :meth:`bar_rows` reads.
        self.bars_file: Path | None = None
        self.device = torch.device("cpu")
        self._block = _tensor(block)
        self._anchors = _tensor(anchors) if anchors is not None else None
        self._steps = torch.arange(self.window, dtype=torch.int64)
        position = np.arange(self.window, dtype=np.float64) / (self.window - 1)
        self._position = torch.from_numpy(position.astype(np.float32))

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (a sweep ships a store to its workers) as its arrays, read into memory
        (a memory map travels as its bytes) and on the CPU; the fingerprint computed first."""
        state = {
            "window": self.window,
            "plan": self.plan,
            "settings": self.settings,
            "offsets": np.asarray(self.offsets),
            "bars": None if self.bars is None else np.asarray(self.bars),
            "block": np.asarray(self.block),
            "anchors": None if self.anchors is None else np.asarray(self.anchors),
            "table": None
            if self.table is None
            else WindowTable(
                *(np.asarray(a) for a in (self.table.starts, self.table.labels, self.table.source))
            ),
            "fingerprint": self.fingerprint,
            "info": self.info,
        }
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    # -- what it holds -------------------------------------------------------------------
    @property
    def fingerprint(self) -> str:
        """Digest of the settings and the bytes of every array (the same for the same data
        however the store was made); computed on first use for a store built in memory."""
        if callable(self._fingerprint):
            self._fingerprint = self._fingerprint()
        return self._fingerprint

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self.plan.names

    @property
    def n_features(self) -> int:
        return len(self.plan.names)

    @property
    def n_bars(self) -> int:
        return int(self.offsets[-1])

    def bar_rows(self, start: int, stop: int) -> np.ndarray:
        """The OHLC of bars ``start..stop-1`` (``series`` inputs only): read from the cache
        file when the store is mapped, so that scanning every bar does not bring the whole
        file into the process (:func:`moola.data.store.arrays.read_rows`)."""
        if self.bars is None:
            raise InputValidationError("this store keeps no OHLC (window inputs)")
        if self.bars_file is not None and self.bars_file.is_file():
            return read_rows(self.bars_file, start, stop)
        return np.asarray(self.bars[start:stop])

    @property
    def n_windows(self) -> int:
        """Labelled windows (0 for an unlabelled store; see :meth:`dense`)."""
        return len(self.table) if self.table is not None else 0

    def __len__(self) -> int:
        return self.n_windows

    def nbytes(self) -> int:
        """Bytes of the per-bar arrays and the window table (resident or mapped)."""
        arrays: list[Any] = [self.offsets, self.bars, self.block, self.anchors]
        if self.table is not None:
            arrays += [self.table.starts, self.table.labels, self.table.source]
        return int(sum(a.nbytes for a in arrays if a is not None))

    def dense(self, stride: int = 1) -> DenseWindows:
        """Every window at ``stride`` bars in every segment (for unlabelled pretraining)."""
        if stride < 1:
            raise InputValidationError(f"stride must be >= 1, got {stride}")
        return DenseWindows(self.offsets, self.window, int(stride))

    def to(self, device: torch.device | str) -> SeriesStore:
        """The store with its per-bar inputs on ``device`` (gathers then run there)."""
        device = torch.device(device)
        self._block = self._block.to(device)
        if self._anchors is not None:
            self._anchors = self._anchors.to(device)
        self._steps = self._steps.to(device)
        self._position = self._position.to(device)
        self.device = device
        return self

    # -- drawing windows -----------------------------------------------------------------
    def starts(self, rows: Any) -> np.ndarray:
        """Global starts of labelled windows ``rows`` (row indices into the table)."""
        table = self._require_table()
        return table.starts[_rows(rows, len(table))]

    def gather(self, starts: Any) -> torch.Tensor:
        """Inputs (B, K, F) float32 of the windows that start at global bars ``starts``."""
        s = torch.as_tensor(
            np.asarray(starts, dtype=np.int64) if not isinstance(starts, torch.Tensor) else starts
        )
        s = s.to(device=self.device, dtype=torch.int64)
        b, k = int(s.shape[0]), self.window
        index = (s[:, None] + self._steps[None, :]).reshape(-1)
        stored = self._block.index_select(0, index).view(b, k, -1)
        plan = self.plan
        x = torch.empty((b, k, self.n_features), dtype=torch.float32, device=self.device)
        where = plan.stored_slice
        if where is not None:
            x[:, :, where] = stored
        elif plan.stored:
            x[:, :, list(plan.stored_at)] = stored
        if plan.drift_at is not None:
            x[:, :, plan.drift_at] = self._drift(index, b)
        if plan.position_at is not None:
            x[:, :, plan.position_at] = self._position
        return x

    def _drift(self, index: torch.Tensor, b: int) -> torch.Tensor:
        """``move_from_start``: (close_t - close_0) / E_t clipped, in float64 as the builder."""
        assert self._anchors is not None  # the plan has the drift only with anchors
        anchors = self._anchors.index_select(0, index).view(b, self.window, 2)
        close, ema = anchors[:, :, 0], anchors[:, :, 1]
        ratio = (close - close[:, :1]) / ema
        ratio = torch.where(torch.isnan(ratio), torch.zeros_like(ratio), ratio)
        return ratio.clamp_(-DRIFT_LIMIT, DRIFT_LIMIT).to(torch.float32)

    def inputs(self, rows: Any) -> torch.Tensor:
        """Inputs (B, K, F) of labelled windows ``rows``."""
        return self.gather(self.starts(rows))

    def labels(self, rows: Any) -> WindowLabels:
        """Labels of windows ``rows`` as int64 tensors on the store's device."""
        table = self._require_table()
        picked = torch.from_numpy(table.labels[_rows(rows, len(table))].astype(np.int64))
        picked = picked.to(self.device)
        return WindowLabels(picked[:, 0], picked[:, 1], picked[:, 2])

    def draw(
        self, rows: Any, tasks: TargetBuilder
    ) -> tuple[torch.Tensor, Mapping[str, torch.Tensor]]:
        """A batch: inputs (B, K, F) and every task's targets, built from the labels now."""
        labels = self.labels(rows)
        targets = tasks.build_targets(
            labels.label, labels.expansion_start, labels.expansion_end, self.window
        )
        return self.inputs(rows), targets

    def ohlc(self, starts: Any) -> np.ndarray:
        """(B, K, 4) float64 bars of the windows that start at global bars ``starts``."""
        if self.bars is None:
            raise InputValidationError(
                "this store keeps no bars (window inputs store features only); "
                "build it with inputs='series' to read windows' OHLC from it"
            )
        return window_view(self.bars, self.window)[np.asarray(starts, dtype=np.int64)]

    def _require_table(self) -> WindowTable:
        if self.table is None:
            raise InputValidationError(
                "this store holds unlabelled bars: draw its windows by global start "
                "(store.dense(stride).starts(rows), then store.gather(starts))"
            )
        return self.table


def _rows(rows: Any, n: int) -> np.ndarray:
    """Row indices as an int64 array, checked against ``n`` windows."""
    if isinstance(rows, torch.Tensor):
        rows = rows.detach().cpu().numpy()
    idx = np.asarray(rows)
    if idx.dtype == np.bool_:
        if idx.shape != (n,):
            raise InputValidationError(f"a boolean index must have shape ({n},), got {idx.shape}")
        return np.flatnonzero(idx)
    idx = idx.astype(np.int64, copy=False).reshape(-1)
    if len(idx) and (idx.min() < -n or idx.max() >= n):
        raise InputValidationError(f"window index out of range for {n} windows")
    return idx
