"""Torch view of labelled windows: features and targets as tensors, plus a seeded split."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from moola.data.features import DEFAULT_FEATURE_SET, build_features
from moola.data.features import feature_names as feature_set_names
from moola.data.windows import LABEL_NAMES, OHLCWindows
from moola.errors import ConfigError, InputValidationError


class WindowDataset(Dataset[dict[str, torch.Tensor]]):
    """Windows as tensors: ``x`` (N, K, F) float32 features and the per-window targets.

    Features are built once up front (they are cheap and small), so ``__getitem__`` is
    pure indexing and the dataset can be sliced and batched freely. ``feature_set`` names
    them (see :mod:`moola.data.features`); ``feature_names`` records the columns, which is
    what a checkpoint must match. Prebuilt ``features`` come with their ``feature_names``
    (default: the feature set's, whose count must then match).
    """

    def __init__(
        self,
        windows: OHLCWindows,
        *,
        feature_set: str = DEFAULT_FEATURE_SET,
        features: np.ndarray | None = None,
        feature_names: tuple[str, ...] | list[str] | None = None,
    ) -> None:
        windows.validate(n_classes=len(LABEL_NAMES))
        names = (
            tuple(feature_names) if feature_names is not None else feature_set_names(feature_set)
        )
        if features is None:
            features = build_features(windows.ohlc, feature_set=feature_set)
        feats = np.asarray(features)
        n, k = len(windows), windows.window
        if feats.ndim != 3 or feats.shape[:2] != (n, k):
            raise InputValidationError(
                f"features must have shape ({n}, {k}, F) to match the windows, "
                f"got {tuple(feats.shape)}"
            )
        if feats.shape[2] != len(names):
            raise InputValidationError(
                f"features have {feats.shape[2]} columns but {len(names)} feature names "
                f"({', '.join(names)}); pass feature_names for prebuilt features"
            )
        if not (np.issubdtype(feats.dtype, np.floating) or np.issubdtype(feats.dtype, np.integer)):
            raise InputValidationError(f"features must be numeric, got dtype {feats.dtype}")
        finite = np.isfinite(feats)
        if not finite.all():
            row, bar, col = np.argwhere(~finite)[0]
            raise InputValidationError(
                f"row {row}, bar {bar}: feature {col} is not finite ({feats[row, bar, col]})"
            )
        self.windows = windows
        #: Names of the feature columns of ``x``, in order (checkpoints record them).
        self.feature_names: tuple[str, ...] = names
        self.x = torch.from_numpy(np.array(feats, dtype=np.float32, order="C", copy=True))
        self.label = torch.from_numpy(windows.label.copy())
        self.expansion_start = torch.from_numpy(windows.expansion_start.copy())
        self.expansion_end = torch.from_numpy(windows.expansion_end.copy())

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if isinstance(i, bool) or not isinstance(i, numbers.Integral):
            raise TypeError(
                f"WindowDataset index must be an integer, got {type(i).__name__}; "
                "use subset() to select many"
            )
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} is out of range for {len(self)} windows")
        return {
            "x": self.x[i],
            "label": self.label[i],
            "expansion_start": self.expansion_start[i],
            "expansion_end": self.expansion_end[i],
        }

    @property
    def window(self) -> int:
        """Bars per window (K)."""
        return int(self.x.shape[1])

    @property
    def n_features(self) -> int:
        """Features per bar (F)."""
        return int(self.x.shape[2])

    def subset(self, index: Any) -> WindowDataset:
        """The windows picked by integer indices or a boolean mask, reusing the built features."""
        if isinstance(index, torch.Tensor):
            index = index.detach().cpu().numpy()
        idx = np.asarray(index)
        windows = self.windows.subset(idx)
        return WindowDataset(
            windows, features=self.x.numpy()[idx], feature_names=self.feature_names
        )


def train_val_split(
    n: int, *, val_fraction: float = 0.2, seed: int = 42
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of ``range(n)`` into sorted, disjoint (train, val) index arrays covering all.

    The validation size is ``round(n * val_fraction)`` kept within ``[1, n - 1]`` so both
    parts are non-empty.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise ConfigError(f"n must be an integer, got {n!r}")
    if n < 2:
        raise ConfigError(f"need at least 2 windows to split into train and validation, got n={n}")
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, numbers.Real):
        raise ConfigError(f"val_fraction must be a number in (0, 1), got {val_fraction!r}")
    if not 0.0 < float(val_fraction) < 1.0:
        raise ConfigError(f"val_fraction must be in (0, 1), got {val_fraction}")
    n_val = min(max(round(n * float(val_fraction)), 1), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_val:]).astype(np.int64), np.sort(order[:n_val]).astype(np.int64)


def chronological_split(
    start_bar: np.ndarray, *, window: int, val_fraction: float = 0.2
) -> tuple[np.ndarray, np.ndarray]:
    """Purged chronological split of windows cut from one series (honest on overlapping windows).

    The series runs from the first window's first bar to the last window's last bar; the
    cut is placed so that its last ``val_fraction`` of bars is validation. Validation holds
    the windows that start at or after the cut; training holds the windows that end before
    it. Windows that straddle the cut are dropped (purged), so no validation window shares a
    bar with a training window. Returns sorted (train, val) index arrays.
    """
    starts = np.asarray(start_bar, dtype=np.int64)
    if not 0.0 < float(val_fraction) < 1.0:
        raise ConfigError(f"val_fraction must be in (0, 1), got {val_fraction}")
    first, end = int(starts.min()), int(starts.max()) + window
    cut = end - round((end - first) * float(val_fraction))
    val = np.flatnonzero(starts >= cut)
    train = np.flatnonzero(starts + window <= cut)
    if len(val) == 0 or len(train) == 0:
        raise ConfigError(
            f"a chronological split at bar {cut} of bars {first}..{end - 1} leaves "
            f"{len(train)} training and {len(val)} validation windows; use more data "
            "or another val_fraction"
        )
    return train.astype(np.int64), val.astype(np.int64)


def split_windows(
    windows: OHLCWindows, *, val_fraction: float = 0.2, seed: int = 42
) -> tuple[np.ndarray, np.ndarray]:
    """The train/validation split moola trains with.

    Windows that carry ``start_bar`` (cut from one series, possibly overlapping) get the
    purged :func:`chronological_split`; pre-cut windows that share bars get the same split
    on the timeline recovered from the shared bars; windows that share nothing (synthetic)
    get the seeded random :func:`train_val_split` (see :mod:`moola.data.overlap`).
    """
    from moola.data.overlap import choose_split  # overlap builds on this module's splits

    split = choose_split(windows, val_fraction=val_fraction, seed=seed)
    return split.train, split.val
