"""``moola predict --out``: one parquet row per window, written atomically.

Columns: ``window`` (row number), ``start_bar``/``end_bar`` (the window's first and last
bar in its series; null where unknown), ``label`` (the most probable class) and one
``p_<class>`` per class, ``pointer_center``/``pointer_length`` (bars), ``span_start``/
``span_end`` (the bars the pointers imply, in the window), ``span_prob``/``span``/
``countdown`` (per-bar lists), ``in_sample`` (the window shares bars with the data the
run trained or validated on; null where the run recorded none), and for labelled sources
``true_label``, ``true_start``, ``true_end``. The file's metadata key ``moola.verdict`` holds
predict's verdict beside the run's own, as JSON (:meth:`PredictVerdict.to_dict
<moola.inference.predict_verdict.PredictVerdict.to_dict>`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from moola.atomic import atomic_write
from moola.data.windows import OHLCWindows
from moola.errors import ConfigError
from moola.inference.predictions import Predictions


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError("writing parquet needs pyarrow: pip install 'moola[parquet]'") from None
    return pa, pq


#: The parquet metadata key of the verdicts.
VERDICT_KEY = "moola.verdict"


def prediction_columns(
    pred: Predictions,
    labelled: OHLCWindows | None = None,
    in_sample: np.ndarray | None = None,
) -> dict[str, Any]:
    """The output table as plain numpy/list columns (what the parquet file holds)."""
    n, k = len(pred), pred.window
    start_bar = pred.start_bar
    columns: dict[str, Any] = {
        "window": np.arange(n, dtype=np.int64),
        "start_bar": None if start_bar is None else start_bar,
        "end_bar": None if start_bar is None else start_bar + k - 1,
        "label": pred.type_name,
    }
    for j, name in enumerate(pred.label_names):
        columns[f"p_{name}"] = pred.type_prob[:, j]
    columns.update(
        pointer_center=pred.pointer_center,
        pointer_length=pred.pointer_length,
        span_start=pred.span_start,
        span_end=pred.span_end,
        span_prob=pred.span_prob.astype(np.float32),
        span=pred.span,
        countdown=pred.countdown.astype(np.float32),
    )
    columns["in_sample"] = None if in_sample is None else np.asarray(in_sample, dtype=bool)
    if labelled is not None:
        columns["true_label"] = [pred.label_names[i] for i in labelled.label]
        columns["true_start"] = labelled.expansion_start
        columns["true_end"] = labelled.expansion_end
    return columns


def write_predictions(
    pred: Predictions,
    path: str | os.PathLike[str],
    labelled: OHLCWindows | None = None,
    *,
    in_sample: np.ndarray | None = None,
    verdict: dict[str, Any] | None = None,
) -> Path:
    """The table, and ``verdict`` (JSON-ready) under the metadata key :data:`VERDICT_KEY`."""
    pa, pq = _pyarrow()
    n, k = len(pred), pred.window
    arrays = {}
    for name, values in prediction_columns(pred, labelled, in_sample).items():
        if values is None:
            kind = pa.bool_() if name == "in_sample" else pa.int64()
            arrays[name] = pa.nulls(n, type=kind)
        elif isinstance(values, np.ndarray) and values.ndim == 2:
            offsets = pa.array(np.arange(0, n * k + 1, k, dtype=np.int32))
            arrays[name] = pa.ListArray.from_arrays(offsets, pa.array(values.reshape(-1)))
        else:
            arrays[name] = pa.array(values)
    table = pa.table(arrays)
    if verdict is not None:
        table = table.replace_schema_metadata({VERDICT_KEY: json.dumps(verdict, default=float)})
    return atomic_write(path, lambda handle: pq.write_table(table, handle))
