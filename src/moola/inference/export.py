"""ONNX export: the model and its conversion to natural units in one graph (extra ``export``).

The graph's input is ``features`` (batch, window, n_features) float32, built from OHLC with
:func:`moola.data.build_features` and the run's feature set (stored in the file's metadata:
the numpy feature builder is not part of the graph). The batch axis is dynamic. Outputs, in
natural units as :class:`~moola.inference.Predictions` has them: ``type_prob`` (batch, C),
``pointer_center`` and ``pointer_length`` (batch,; bars), ``span_start`` and ``span_end``
(batch,; int64 bars), ``span_prob`` (batch, window) and ``countdown`` (batch, window; bars).

Exported with torch's dynamo exporter (``torch.onnx.export(dynamo=True)``, which needs
``onnxscript``); it runs offline. The file is written atomically.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from moola.atomic import atomic_write
from moola.data.features import build_features
from moola.errors import ConfigError, FeatureMismatchError
from moola.inference.load import LoadedModel
from moola.inference.predictions import Predictions

INPUT_NAME = "features"
OUTPUT_NAMES = (
    "type_prob",
    "pointer_center",
    "pointer_length",
    "span_start",
    "span_end",
    "span_prob",
    "countdown",
)
#: ONNX opset of the exported graph.
OPSET = 18


class NaturalUnits(nn.Module):
    """JadeCompact in eval mode followed by the conversions of ``predictions.from_outputs``."""

    def __init__(self, loaded: LoadedModel) -> None:
        super().__init__()
        self.model = loaded.model
        self.window = loaded.window
        self.countdown_scale = loaded.countdown_scale

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, ...]:
        # encode() without its input checks (host-side, data-dependent): the graph has none.
        trunk, _ = self.model.lstm(features)
        out = self.model.decode(trunk)
        center = out["pointers"][:, 0] * self.window
        length = out["pointers"][:, 1] * self.window
        last = self.window - 1
        start = torch.clamp(torch.round(center - length / 2), 0, last)
        end = torch.maximum(torch.clamp(torch.round(center + length / 2), 0, last), start)
        return (
            torch.softmax(out["logits"], dim=1),
            center,
            length,
            start.to(torch.int64),
            end.to(torch.int64),
            out["expansion_binary"],
            out["expansion_countdown"] / self.countdown_scale,
        )


def metadata(loaded: LoadedModel) -> dict[str, str]:
    from moola import __version__
    from moola.data.windows import LABEL_NAMES

    return {
        "moola_version": __version__,
        "feature_set": loaded.feature_set,
        "feature_names": json.dumps(list(loaded.feature_names)),
        "window": str(loaded.window),
        "label_names": json.dumps(list(LABEL_NAMES)),
        "weights": loaded.weights,
        "step": str(loaded.step),
    }


def _onnx() -> Any:
    try:
        import onnx
        import onnxscript  # noqa: F401  (torch's dynamo exporter needs it)
    except ImportError:
        raise ConfigError(
            "ONNX export needs onnx and onnxscript: pip install 'moola[export]'"
        ) from None
    return onnx


def export_onnx(loaded: LoadedModel, path: str | os.PathLike[str]) -> Path:
    """Write ``loaded`` as an ONNX graph with a dynamic batch axis and named outputs."""
    onnx = _onnx()
    wrapper = NaturalUnits(loaded).eval()
    example = torch.zeros(2, loaded.window, loaded.n_features)
    batch = torch.export.Dim("batch", min=1)
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)  # progress and torchvision notices, not for users
    try:
        with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's deprecation notices
            proto = _export(onnx, wrapper, example, batch, Path(tmp) / "model.onnx")
    finally:
        exporter_log.setLevel(level)
    for key, value in metadata(loaded).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    data = proto.SerializeToString()
    return atomic_write(path, lambda handle: handle.write(data))


def _export(onnx: Any, wrapper: nn.Module, example: torch.Tensor, batch: Any, raw: Path) -> Any:
    """torch's dynamo exporter to a scratch file, read back as an ONNX proto."""
    program = torch.onnx.export(
        wrapper,
        (example,),
        dynamo=True,
        input_names=[INPUT_NAME],
        output_names=list(OUTPUT_NAMES),
        dynamic_shapes={"features": {0: batch}},
        opset_version=OPSET,
        verbose=False,
    )
    if program is None:  # only the legacy exporter returns nothing
        raise ConfigError("torch.onnx.export returned no program; use torch >= 2.6")
    program.save(str(raw))
    return onnx.load(str(raw))


class OnnxModel:
    """An exported model in onnxruntime, fed from OHLC with the feature set in its metadata."""

    def __init__(self, path: str | os.PathLike[str], *, threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise ConfigError(
                "running ONNX needs onnxruntime: pip install 'moola[export]'"
            ) from None
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        meta = self.session.get_modelmeta().custom_metadata_map
        self.feature_set: str = meta["feature_set"]
        self.feature_names: tuple[str, ...] = tuple(json.loads(meta["feature_names"]))
        self.window = int(meta["window"])
        self.label_names: tuple[str, ...] = tuple(json.loads(meta["label_names"]))

    def run_features(self, features: np.ndarray) -> dict[str, np.ndarray]:
        outputs = self.session.run(list(OUTPUT_NAMES), {INPUT_NAME: features.astype(np.float32)})
        return dict(zip(OUTPUT_NAMES, outputs))

    def predict(self, ohlc: np.ndarray, start_bar: np.ndarray | None = None) -> Predictions:
        """(N, window, 4) OHLC -> :class:`Predictions`, as ``moola.predict`` returns them."""
        features = build_features(ohlc, feature_set=self.feature_set)
        if features.shape[1:] != (self.window, len(self.feature_names)):
            raise FeatureMismatchError(
                f"the model reads ({self.window}, {len(self.feature_names)}) features per window, "
                f"got {features.shape[1:]}"
            )
        out = self.run_features(features)
        span_prob = out["span_prob"].astype(np.float64)
        return Predictions(
            type_prob=out["type_prob"].astype(np.float64),
            pointer_center=out["pointer_center"].astype(np.float64),
            pointer_length=out["pointer_length"].astype(np.float64),
            span_start=out["span_start"],
            span_end=out["span_end"],
            span_prob=span_prob,
            span=span_prob > 0.5,
            countdown=out["countdown"].astype(np.float64),
            window=self.window,
            label_names=self.label_names,
            start_bar=start_bar,
        )
