"""``GET /metrics``: the server's Prometheus metrics, in a registry of its own.

Requests by endpoint, method and status; a latency histogram per endpoint; errors by class
(client 4xx, server 5xx); the time spent in the model; windows predicted; how long the
model took to load; and the process's own (memory, CPU, open files). The endpoint label is
the request's path when the app has a route of that path (``/predict``, ``/docs``), else
``unmatched``, and an unusual method is ``other``: a scanner sending random paths or methods
cannot grow the label set without bound.

A registry per app (not prometheus-client's global one) keeps two servers in one process,
as in the tests, from sharing or clashing over counters.
"""

from __future__ import annotations

import time
from collections.abc import Collection

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    ProcessCollector,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Latency buckets in seconds: a single window takes milliseconds, a full batch up to seconds.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: The method labels; any other method (HTTP allows any token) is counted as ``other``.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: The Prometheus text format's content type.
CONTENT_TYPE = CONTENT_TYPE_LATEST


class Telemetry:
    """The metrics of one server."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        ProcessCollector(registry=registry)
        self.requests = Counter(
            "moola_serve_requests",
            "HTTP requests answered, by endpoint, method and status",
            ["endpoint", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "moola_serve_request_duration_seconds",
            "Time from the request's arrival to the end of its answer",
            ["endpoint"],
            buckets=BUCKETS,
            registry=registry,
        )
        self.errors = Counter(
            "moola_serve_errors",
            "Answers with status >= 400, by endpoint and kind (client: 4xx, server: 5xx)",
            ["endpoint", "kind"],
            registry=registry,
        )
        self.inference = Histogram(
            "moola_serve_inference_seconds",
            "Time on the inference thread per prediction request (checks, features, model, "
            "JSON answer), without the wait for the thread",
            ["endpoint"],
            buckets=BUCKETS,
            registry=registry,
        )
        self.windows = Counter(
            "moola_serve_windows_predicted", "Windows predicted", registry=registry
        )
        self.model_load = Gauge(
            "moola_serve_model_load_seconds",
            "Time to load the model at startup (and export it, for the onnx backend)",
            registry=registry,
        )
        self.model = Info("moola_serve_model", "What this server serves", registry=registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def record(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, method, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)
        if status >= 400:
            self.errors.labels(endpoint, "server" if status >= 500 else "client").inc()


class MetricsMiddleware:
    """Counts and times every HTTP request (pure ASGI: no extra task per request)."""

    def __init__(self, app: ASGIApp, telemetry: Telemetry, paths: Collection[str]) -> None:
        """``paths``: the app's routes' paths, the only endpoint labels besides ``unmatched``."""
        self.app, self.telemetry, self.paths = app, telemetry, frozenset(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # if the app raises before it answers, the server answers 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            endpoint = scope["path"] if scope["path"] in self.paths else "unmatched"
            method = scope["method"] if scope["method"] in METHODS else "other"
            self.telemetry.record(endpoint, method, status, time.perf_counter() - start)
