"""The engines that answer a request: torch (eager, the loaded model) or onnxruntime (the
same run exported once at startup), behind one interface.

Both take validated (N, window, 4) OHLC and return :class:`~moola.inference.Predictions`,
through moola's own inference code: torch through ``moola.inference.core.predict_input``
(what ``moola.predict`` runs), onnxruntime through ``moola.inference.export.OnnxModel``.

Thread-safety: a backend is not safe to call from two threads at once (torch's module and
its OpenMP pool; one onnxruntime session's scratch buffers). The app calls it from one
dedicated worker thread only (:class:`moola.serve.app.Worker`), so requests are answered
one at a time, in arrival order, while the event loop keeps accepting and validating.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Protocol

import numpy as np

from moola.errors import ConfigError
from moola.inference.core import predict_input
from moola.inference.load import LoadedModel
from moola.inference.predictions import Predictions
from moola.inference.sources import PredictInput

#: The backends ``moola serve --backend`` takes.
BACKENDS = ("torch", "onnx")


class Backend(Protocol):
    """Predicts validated windows; called from one thread at a time."""

    name: str

    def predict(self, ohlc: np.ndarray) -> Predictions: ...


class TorchBackend:
    """The loaded model in eval mode, as ``moola.predict`` runs it."""

    name = "torch"

    def __init__(self, loaded: LoadedModel) -> None:
        self.loaded = loaded

    def predict(self, ohlc: np.ndarray) -> Predictions:
        return predict_input(self.loaded, PredictInput(ohlc, None, None))


class OnnxBackend:
    """The run exported to ONNX once (to a scratch file, deleted as soon as onnxruntime has
    read it) and run by onnxruntime (``pip install 'moola[export]'``)."""

    name = "onnx"

    def __init__(self, loaded: LoadedModel, *, threads: int | None = None) -> None:
        from moola.inference.export import OnnxModel, export_onnx

        with tempfile.TemporaryDirectory(prefix="moola-serve-") as tmp:
            path = export_onnx(loaded, Path(tmp) / "model.onnx")
            self.model = OnnxModel(path, threads=threads)

    def predict(self, ohlc: np.ndarray) -> Predictions:
        return self.model.predict(ohlc)


def make_backend(name: str, loaded: LoadedModel, *, threads: int | None = None) -> Backend:
    """The backend called ``name`` for ``loaded``; ``threads``: onnxruntime's intra-op threads
    (torch's are set on the worker thread, :class:`moola.serve.app.Worker`)."""
    if name == "torch":
        return TorchBackend(loaded)
    if name == "onnx":
        return OnnxBackend(loaded, threads=threads)
    raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}, got {name!r}")
