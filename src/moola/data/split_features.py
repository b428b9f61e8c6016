"""The features of both splits, built chunk by chunk straight into their split's array.

Memory is what limits how many windows a run can hold. Built in one go, the feature builder's
float64 intermediates (about 30 of them, K x 8 bytes per window each) cost several times the
float32 features themselves, and the full feature array, its per-split copies and a byte
copy for the fingerprint came on top. Here the windows are featurised ``CHUNK_WINDOWS`` at a
time, in row order: each chunk is checked for finite values, fed to the fingerprint and
copied into the rows of its split, then dropped. The only per-window memory left is the
OHLC (until the caller drops it) and the float32 features, once.

The result is bit for bit what featurising all windows at once gives: every feature of a
window is computed from that window's own bars only (the builder's loops run over bars,
never across windows), and the fingerprint hashes the same bytes in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from moola.data.features import build_features, feature_names
from moola.data.fingerprint import Fingerprint
from moola.data.windows import OHLCWindows
from moola.errors import InputValidationError

#: Windows featurised at a time: the builder's intermediates then take a fixed ~60 MB.
CHUNK_WINDOWS = 2048


@dataclass
class SplitFeatures:
    x_train: torch.Tensor
    x_val: torch.Tensor
    feature_names: tuple[str, ...]
    fingerprint: str


def _positions(index: np.ndarray, n: int) -> np.ndarray:
    """For each of the n rows, its position in ``index`` (-1: not in it)."""
    where = np.full(n, -1, dtype=np.int64)
    where[index] = np.arange(len(index))
    return where


def split_features(
    windows: OHLCWindows,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    *,
    feature_set: str,
    chunk: int = CHUNK_WINDOWS,
) -> SplitFeatures:
    """float32 features of ``windows[train_idx]`` and ``windows[val_idx]``, and the data
    fingerprint of all windows (:func:`moola.data.fingerprint.data_fingerprint`'s digest)."""
    names = feature_names(feature_set)
    n, k, f = len(windows), windows.window, len(names)
    x_train = torch.empty((len(train_idx), k, f), dtype=torch.float32)
    x_val = torch.empty((len(val_idx), k, f), dtype=torch.float32)
    to_train, to_val = _positions(train_idx, n), _positions(val_idx, n)
    fingerprint = Fingerprint()
    fingerprint.start("x", torch.float32, (n, k, f))
    for a in range(0, n, chunk):
        b = min(a + chunk, n)
        feats = build_features(windows.ohlc[a:b], feature_set=feature_set)
        finite = np.isfinite(feats)
        if not finite.all():
            row, bar, col = np.argwhere(~finite)[0]
            raise InputValidationError(
                f"row {a + row}, bar {bar}: feature {col} is not finite ({feats[row, bar, col]})"
            )
        fingerprint.update(torch.from_numpy(feats))
        for out, where in ((x_train, to_train), (x_val, to_val)):
            rows = where[a:b]
            keep = rows >= 0
            out.numpy()[rows[keep]] = feats[keep]
    for name, values in (
        ("label", windows.label),
        ("expansion_start", windows.expansion_start),
        ("expansion_end", windows.expansion_end),
    ):
        fingerprint.add(name, torch.from_numpy(values))
    return SplitFeatures(x_train, x_val, names, fingerprint.hexdigest())
