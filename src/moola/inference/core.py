"""``predict(model, data)``: features built the checkpoint's way, eval-mode forward, natural units."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from moola.data.features import build_features
from moola.errors import ConfigError, FeatureMismatchError
from moola.inference.load import LoadedModel, load_model
from moola.inference.predictions import Predictions, from_outputs
from moola.inference.sources import DEFAULT_STRIDE, PredictInput, from_array, from_source
from moola.models.forward import forward_eval

#: Windows per forward pass.
BATCH_SIZE = 1024


def predict(
    model: LoadedModel | str | os.PathLike[str],
    data: Any,
    *,
    stride: int = DEFAULT_STRIDE,
    batch_size: int = BATCH_SIZE,
) -> Predictions:
    """Predict every window of ``data``.

    ``model``: a :class:`LoadedModel` or a path for :func:`load_model` (best weights).
    ``data``: ``OHLCWindows``; an (N, K, 4) array of windows; a (T, 4) bar series (cut every
    ``stride`` bars, the newest window ending on the last bar); or a source path/name as
    ``moola predict --data`` takes it.
    """
    loaded = model if isinstance(model, LoadedModel) else load_model(model)
    return predict_input(loaded, prepare(loaded, data, stride=stride), batch_size=batch_size)


def prepare(loaded: LoadedModel, data: Any, *, stride: int = DEFAULT_STRIDE) -> PredictInput:
    """``data`` as windows to predict on, with the model's inputs (its run's ``inputs``)."""
    if isinstance(data, PredictInput):
        return data
    options: dict[str, Any] = {
        "window": loaded.window,
        "stride": stride,
        "inputs": loaded.inputs,
        "feature_set": loaded.feature_set,
    }
    if isinstance(data, (str, os.PathLike)):
        return from_source(data, **options)
    return from_array(data, **options)


def features_for(loaded: LoadedModel, ohlc: np.ndarray) -> torch.Tensor:
    """The model's input: the checkpoint's feature set, checked against its recorded columns."""
    x = build_features(ohlc, feature_set=loaded.feature_set)
    if x.shape[-1] != loaded.model.config.n_features:
        raise FeatureMismatchError(
            f"feature set {loaded.feature_set!r} gives {x.shape[-1]} features but the model "
            f"reads {loaded.model.config.n_features} ({', '.join(loaded.feature_names)})"
        )
    return torch.from_numpy(x)


def inputs_for(loaded: LoadedModel, data: PredictInput, a: int, b: int) -> torch.Tensor:
    """The model's inputs of windows ``a..b-1`` of ``data``: drawn from its store (``series``
    inputs), or built window by window (:func:`features_for`)."""
    if data.store is None or data.starts is None:
        return features_for(loaded, data.ohlc[a:b])
    return inputs_at(loaded, data, np.arange(a, min(b, len(data))))


def inputs_at(loaded: LoadedModel, data: PredictInput, rows: np.ndarray) -> torch.Tensor:
    """:func:`inputs_for` of the windows ``rows`` (an index array) of ``data``."""
    rows = np.asarray(rows, dtype=np.int64)
    if data.store is None or data.starts is None:
        return features_for(loaded, data.ohlc[rows])
    if data.store.n_features != loaded.model.config.n_features:
        raise FeatureMismatchError(
            f"feature set {loaded.feature_set!r} gives {data.store.n_features} features but "
            f"the model reads {loaded.model.config.n_features} ({', '.join(loaded.feature_names)})"
        )
    return data.store.gather(data.starts[rows])


def predict_input(
    loaded: LoadedModel, data: PredictInput, *, batch_size: int = BATCH_SIZE
) -> Predictions:
    """Inputs and forward pass ``batch_size`` windows at a time, so that a long series cut
    with a small stride never holds all its inputs in memory at once."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    parts = [
        forward_eval(
            loaded.model, inputs_for(loaded, data, i, i + batch_size), batch_size=batch_size
        )
        for i in range(0, len(data), batch_size)
    ]
    outputs = {key: torch.cat([part[key] for part in parts]) for key in parts[0]}
    return from_outputs(
        outputs,
        window=loaded.window,
        countdown_scale=loaded.countdown_scale,
        start_bar=data.start_bar,
    )
