"""Pooled series: windows of several series in one dataset, with a series id beside start_bar.

Several files (``moola label A.csv B.csv``, ``moola train --data A --data B``) make one
dataset. Each part keeps its own ``start_bar``; the part becomes a series id (a part that
already pools several series keeps them apart by renumbering), so that splits and folds cut
every series on its own and never put bars of one series on both sides. When a part has no
``start_bar`` (a pre-cut file), the pooled windows carry none either, and the split recovers
the series from shared bars (:mod:`moola.data.overlap`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from moola.data.windows import OHLCWindows
from moola.errors import DataValidationError


def pool_windows(parts: Sequence[OHLCWindows]) -> OHLCWindows:
    """One dataset of ``parts``; series ids follow the parts (see the module docstring)."""
    if not parts:
        raise DataValidationError("nothing to pool: give at least one data source")
    sizes = {p.window for p in parts}
    if len(sizes) != 1:
        raise DataValidationError(
            f"pooled sources must have windows of one length, got {sorted(sizes)} bars"
        )
    timed = all(p.start_bar is not None for p in parts)
    series: list[np.ndarray] = []
    next_id = 0
    for p in parts:
        ids = np.zeros(len(p), dtype=np.int64) if p.series is None else p.series
        _, ids = np.unique(ids, return_inverse=True)
        series.append(ids.astype(np.int64) + next_id)
        next_id += int(ids.max()) + 1 if len(ids) else 0
    return OHLCWindows(
        ohlc=np.concatenate([p.ohlc for p in parts]),
        label=np.concatenate([p.label for p in parts]),
        expansion_start=np.concatenate([p.expansion_start for p in parts]),
        expansion_end=np.concatenate([p.expansion_end for p in parts]),
        start_bar=np.concatenate([p.start_bar for p in parts]) if timed else None,
        series=np.concatenate(series) if timed else None,
    )
