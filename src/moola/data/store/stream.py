"""A windows parquet file laid onto its series batch by batch: the file's prices never in memory.

``moola label`` writes every bar of a series once per window that covers it (105 times at
stride 1). A file whose windows carry ``start_bar`` says where each window sits, so its bars
can be placed straight into the series, one batch of windows at a time
(:func:`moola.data.files.iter_window_bars`): only the series' bars (each once) and one batch
are ever held, never the (N, K, 4) prices.

Every window is checked against the bars already placed, bit for bit, as
:func:`moola.data.store.layout.lay_out` checks them. A file whose windows disagree with
their ``start_bar`` (a conflict) is not laid out here: the caller falls back to reading the
whole file and laying it out with the checks that set such windows apart.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from moola.data.files import WindowColumns, iter_window_bars, read_window_columns
from moola.data.store.layout import BarLayout, plan_segments


def lay_windows_file(
    path: Path, window: int, columns: WindowColumns | None = None
) -> tuple[BarLayout, np.ndarray, dict[str, np.ndarray]] | None:
    """The bar layout, the (T, 4) bars and the window table of a windows parquet file with
    ``start_bar``; None when the file has no ``start_bar`` or its windows disagree (the
    caller then reads it whole). ``columns``: the file's small columns, when read already."""
    columns = columns if columns is not None else read_window_columns(path, window=window)
    if columns.start_bar is None:
        return None
    n = len(columns)
    keys = columns.series if columns.series is not None else np.zeros(n, dtype=np.int64)
    position = columns.start_bar
    layout = plan_segments(keys, position, window)
    bars = np.empty((layout.n_bars, 4), dtype=np.float64)
    placed = np.zeros(layout.n_bars, dtype=bool)
    steps = np.arange(window)
    for row0, ohlc in iter_window_bars(path, window=window):
        index = layout.starts[row0 : row0 + len(ohlc), None] + steps[None, :]  # (n, K)
        flat = index.reshape(-1)
        new = ~placed[flat]
        if new.any():  # each new bar from the first window (in file order) that has it
            where, first = np.unique(flat[new], return_index=True)
            bars[where] = ohlc.reshape(-1, 4)[np.flatnonzero(new)[first]]
            placed[where] = True
        # every window's bars, bit for bit (NaN equals NaN), against the bars placed
        if (bars[index].view(np.int64) != ohlc.view(np.int64)).any():
            return None
    labels = np.stack([columns.label, columns.expansion_start, columns.expansion_end], axis=1)
    table = {
        "starts": layout.starts,
        "labels": labels.astype(np.int32),
        "source": np.stack([keys, position], axis=1),
    }
    return layout, bars, table
