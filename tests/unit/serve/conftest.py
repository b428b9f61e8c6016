"""One real server on a loopback port, shared by the serve tests (serving the tiny run of
tests/unit/conftest.py, ``run_dir``).

The server is uvicorn on a socket of its own (port 0: any free port) in a background
thread, talked to over HTTP with httpx, as a client would.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("prometheus_client")
httpx = pytest.importorskip("httpx")

#: The batch limit of the shared server (small, so that the over-limit test is cheap).
MAX_BATCH = 8


def random_windows(n: int, window: int, seed: int = 0) -> np.ndarray:
    """(n, window, 4) valid OHLC: a random walk around 100 with wicks."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(0.01 * rng.standard_normal((n, window)), axis=1))
    open_ = np.concatenate([close[:, :1] * 0.999, close[:, :-1]], axis=1)
    wick = 1.0 + 0.002 * rng.random((2, n, window))
    high, low = np.maximum(open_, close) * wick[0], np.minimum(open_, close) / wick[1]
    return np.stack([open_, high, low, close], axis=-1)


@pytest.fixture(scope="session")
def served(run_dir: Path):
    from moola.serve.served import load_served

    return load_served(run_dir)


@pytest.fixture(scope="session")
def server_url(served) -> Iterator[str]:
    """The base URL of a running server with the torch backend and ``--max-batch 8``."""
    from moola.serve.app import create_app
    from moola.serve.server import running

    with running(create_app(served, max_batch=MAX_BATCH, threads=1)) as url:
        yield url
        # whatever the tests sent, the server never answered with a 5xx
        text = httpx.get(f"{url}/metrics").text
        assert 'kind="server"' not in text, text


@pytest.fixture(scope="session")
def client(server_url: str) -> Iterator[httpx.Client]:
    """One client for the session (creating one costs 0.1 s: its TLS context)."""
    with httpx.Client(base_url=server_url, timeout=30) as http:
        yield http
