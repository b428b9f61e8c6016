"""The model a server serves, loaded once at startup (weights-only), and what ``GET /model``
says about it."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from moola.data.files import PRICE_COLUMNS
from moola.data.windows import LABEL_NAMES
from moola.inference.load import LoadedModel, load_model
from moola.serve.backends import Backend, make_backend
from moola.serve.schemas import ModelInfo, Verdict
from moola.serve.verdict import run_verdict


@dataclass
class ServedModel:
    """A loaded run, the backend that runs it, and how long loading took."""

    loaded: LoadedModel
    backend: Backend
    verdict: Verdict
    load_seconds: float

    def info(self, *, max_batch: int) -> ModelInfo:
        loaded = self.loaded
        return ModelInfo(
            run=str(loaded.path.parent),
            file=str(loaded.path),
            weights=loaded.weights,
            step=loaded.step,
            backend=self.backend.name,
            feature_set=loaded.feature_set,
            feature_names=list(loaded.feature_names),
            window=loaded.window,
            columns=list(PRICE_COLUMNS),
            label_names=list(LABEL_NAMES),
            max_batch=max_batch,
            verdict=self.verdict,
        )


def load_served(
    run: str | os.PathLike[str],
    *,
    weights: str = "best",
    backend: str = "torch",
    threads: int | None = None,
) -> ServedModel:
    """Load ``run`` (a run folder or checkpoint, as ``moola predict`` takes it) for serving.

    Every problem (no such run, other features, onnx without its extra) is a
    :class:`~moola.errors.MoolaError` raised here, before the server listens.
    """
    start = time.perf_counter()
    loaded = load_model(run, weights=weights)
    engine = make_backend(backend, loaded, threads=threads)
    seconds = time.perf_counter() - start
    return ServedModel(loaded, engine, run_verdict(loaded), seconds)
