"""The two basic train/validation splits: seeded random (independent windows) and purged
chronological (windows cut from one series). :mod:`moola.data.overlap` chooses between them."""

from __future__ import annotations

import numbers

import numpy as np

from moola.errors import ConfigError


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


def purged_masks(
    starts: np.ndarray, *, window: int, val_fraction: float, embargo: int = 0
) -> tuple[np.ndarray, np.ndarray, int]:
    """The rule of the chronological split, for the windows of one series: boolean (train,
    val) masks and the cut bar.

    The series runs from the first window's first bar to the last window's last bar; the
    cut is placed so that its last ``val_fraction`` of bars is validation. Validation holds
    the windows that start at or after the cut; training holds the windows that end at least
    ``embargo`` bars before it. Windows in between are dropped (purged), so no validation
    window shares a bar with a training window.
    """
    first, end = int(starts.min()), int(starts.max()) + window
    cut = end - round((end - first) * float(val_fraction))
    return starts + window + embargo <= cut, starts >= cut, cut


def check_split_settings(val_fraction: float, embargo: int = 0) -> None:
    if embargo < 0:
        raise ConfigError(f"embargo must be >= 0 bars, got {embargo}")
    if not 0.0 < float(val_fraction) < 1.0:
        raise ConfigError(f"val_fraction must be in (0, 1), got {val_fraction}")


def chronological_split(
    start_bar: np.ndarray, *, window: int, val_fraction: float = 0.2, embargo: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Purged chronological split of windows cut from one series (honest on overlapping
    windows), by :func:`purged_masks`. Returns sorted (train, val) index arrays; a split that
    leaves either side empty is an error."""
    starts = np.asarray(start_bar, dtype=np.int64)
    check_split_settings(val_fraction, embargo)
    train_mask, val_mask, cut = purged_masks(
        starts, window=window, val_fraction=val_fraction, embargo=embargo
    )
    train, val = np.flatnonzero(train_mask), np.flatnonzero(val_mask)
    if len(val) == 0 or len(train) == 0:
        raise ConfigError(
            f"a chronological split at bar {cut} of bars {int(starts.min())}.."
            f"{int(starts.max()) + window - 1} leaves {len(train)} training and {len(val)} "
            "validation windows; use more data or another val_fraction"
        )
    return train.astype(np.int64), val.astype(np.int64)
