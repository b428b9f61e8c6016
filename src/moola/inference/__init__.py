"""Use a trained model: load it, predict windows in natural units, score, export and plot.

``load_model`` reads a run folder or checkpoint without running code from it; ``predict``
builds the checkpoint's features and returns :class:`Predictions` (numpy, bars and
probabilities). The CLI glue is :mod:`moola.cli.predict`; ONNX export is
:mod:`moola.inference.export` (extra ``export``), charts :mod:`moola.inference.plot` (extra ``plot``).
"""

from moola.inference.core import predict
from moola.inference.load import LoadedModel, ModelLoadError, load_model
from moola.inference.predictions import Predictions
from moola.inference.sources import DEFAULT_STRIDE, cut_series

__all__ = [
    "DEFAULT_STRIDE",
    "LoadedModel",
    "ModelLoadError",
    "Predictions",
    "cut_series",
    "load_model",
    "predict",
]
