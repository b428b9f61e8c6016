"""Torch view of labelled windows: features and targets as tensors (the splits are in
:mod:`moola.data.splits`)."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from moola.data.features import DEFAULT_FEATURE_SET, build_features
from moola.data.features import feature_names as feature_set_names
from moola.data.windows import LABEL_NAMES, OHLCWindows
from moola.errors import InputValidationError


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
