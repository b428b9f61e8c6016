"""The FastAPI app of ``moola serve``: its endpoints wired to a served model, the inference
worker, the error handlers, the body limit and the metrics."""

from __future__ import annotations

import inspect
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel

from moola import __version__
from moola.errors import ConfigError
from moola.serve.errors import CatchAllMiddleware, install_handlers
from moola.serve.limits import BodyLimitMiddleware, body_limit
from moola.serve.schemas import (
    ERROR_RESPONSES,
    BatchPrediction,
    BatchRequestBase,
    Health,
    ModelInfo,
    PredictRequestBase,
    WindowPrediction,
    request_models,
)
from moola.serve.served import ServedModel
from moola.serve.telemetry import CONTENT_TYPE, MetricsMiddleware, Telemetry
from moola.serve.windows import answer_batch, answer_one
from moola.serve.worker import Worker

#: ``--max-batch``'s default: windows per ``/predict/batch`` request.
DEFAULT_MAX_BATCH = 256

DESCRIPTION = """Predictions of a trained moola run, every head in natural units (bars and
probabilities). A window is a list of bars, oldest first, each `[open, high, low, close]`;
`GET /model` gives the window length and **the run's own verdict per head**: read it before
trusting a head that did not learn. Every refusal is a JSON `detail` list naming the field,
and for a price its window, bar and column."""

#: The paths this app answers (and the docs').
ENDPOINTS = ("/health", "/model", "/metrics", "/predict", "/predict/batch")

E = TypeVar("E", bound=Callable[..., Any])


def body_model(model: type[BaseModel]) -> Callable[[E], E]:
    """Give an endpoint's ``body`` parameter a request model built at startup (its schema
    holds the served window length); FastAPI reads the model from the signature."""

    def use(endpoint: E) -> E:
        signature = inspect.signature(endpoint)
        params = [
            p.replace(annotation=model) if p.name == "body" else p
            for p in signature.parameters.values()
        ]
        setattr(endpoint, "__signature__", signature.replace(parameters=params))  # noqa: B010
        return endpoint

    return use


def create_app(
    served: ServedModel, *, max_batch: int = DEFAULT_MAX_BATCH, threads: int | None = None
) -> FastAPI:
    """The app serving ``served``; ``threads``: torch's threads on the inference worker."""
    if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
        raise ConfigError(f"max_batch must be an integer >= 1, got {max_batch!r}")
    window = served.loaded.window
    models = request_models(window, max_batch)
    info = served.info(max_batch=max_batch)
    worker = Worker(threads=threads)
    telemetry = Telemetry()
    telemetry.model_load.set(served.load_seconds)
    telemetry.model.info(
        {
            "run": info.run,
            "weights": info.weights,
            "step": str(info.step),
            "backend": info.backend,
            "feature_set": info.feature_set,
            "window": str(window),
        }
    )
    started = time.monotonic()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            worker.close()

    app = FastAPI(
        title="moola serve", version=__version__, description=DESCRIPTION, lifespan=lifespan
    )
    install_handlers(app, window=window, max_batch=max_batch)
    app.add_middleware(BodyLimitMiddleware, limit=body_limit(window, max_batch))
    app.add_middleware(CatchAllMiddleware)
    paths = [*ENDPOINTS, app.docs_url, app.redoc_url, app.openapi_url]
    # outermost: it counts the 413s too
    app.add_middleware(MetricsMiddleware, telemetry=telemetry, paths=[p for p in paths if p])

    async def infer(endpoint: str, answer: Callable[..., bytes], data: Any, n: int) -> Response:
        def work() -> bytes:  # on the worker thread: its time excludes the wait in the queue
            start = time.perf_counter()
            try:
                return answer(served.backend, data)
            finally:
                telemetry.inference.labels(endpoint).observe(time.perf_counter() - start)

        content = await worker.run(work)
        telemetry.windows.inc(n)
        return Response(content, media_type="application/json")

    @app.get("/health", response_model=Health, responses=ERROR_RESPONSES)
    async def health() -> Health:
        """The server is up and its model loaded."""
        return Health(
            status="ok", backend=served.backend.name, uptime_seconds=time.monotonic() - started
        )

    @app.get("/model", response_model=ModelInfo, responses=ERROR_RESPONSES)
    async def model() -> ModelInfo:
        """What is served: run, weights, features, window, backend, and the run's verdict
        per head (``learned`` is null when the run's metrics.json is missing or judged
        another step)."""
        return info

    @app.get("/metrics", response_class=PlainTextResponse, responses=ERROR_RESPONSES)
    async def metrics() -> Response:
        """Prometheus metrics (text format)."""
        return Response(telemetry.render(), media_type=CONTENT_TYPE)

    @app.post("/predict", response_model=WindowPrediction, responses=ERROR_RESPONSES)
    @body_model(models.single)
    async def predict(body: PredictRequestBase) -> Response:
        """Every head for one window of bars."""
        return await infer("/predict", answer_one, body.features, 1)

    @app.post("/predict/batch", response_model=BatchPrediction, responses=ERROR_RESPONSES)
    @body_model(models.batch)
    async def predict_batch(body: BatchRequestBase) -> Response:
        """Every head for each of several windows, in the request's order."""
        return await infer("/predict/batch", answer_batch, body.windows, len(body.windows))

    return app
