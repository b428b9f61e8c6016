"""``--backend onnx``: the run exported at startup and served by onnxruntime answers what
torch answers, within the tolerances of the ONNX parity test (which says why they are what
they are), over the same HTTP API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

import moola
from tests.regression.test_onnx_parity import BARS_TOL, BOUNDARY, PROB_TOL
from tests.unit.serve.conftest import random_windows

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


@pytest.fixture(scope="module")
def onnx_url(run_dir: Path) -> Iterator[str]:
    from moola.serve.app import create_app
    from moola.serve.served import load_served
    from moola.serve.server import running

    served = load_served(run_dir, backend="onnx", threads=1)
    with running(create_app(served, max_batch=16)) as url:
        yield url


def test_the_onnx_backend_agrees_with_torch(onnx_url: str, run_dir: Path) -> None:
    windows = random_windows(16, 24, seed=7)
    with httpx.Client(base_url=onnx_url, timeout=30) as client:
        assert client.get("/health").json()["backend"] == "onnx"
        info = client.get("/model").json()
        assert (info["backend"], info["weights"]) == ("onnx", "best")
        assert info["verdict"]["known"]
        got = client.post("/predict/batch", json={"windows": windows.tolist()}).json()
        one = client.post("/predict", json={"features": windows[0].tolist()}).json()
    want = moola.predict(moola.load_model(run_dir), windows)
    # a batch of one runs other onnxruntime kernels than a batch of 16: close, not equal
    single = list(one["type"]["probabilities"].values())
    np.testing.assert_allclose(single, want.type_prob[0], rtol=0, atol=PROB_TOL)
    np.testing.assert_allclose(one["countdown"]["bars"], want.countdown[0], rtol=0, atol=BARS_TOL)
    pred = got["predictions"]

    def column(read) -> np.ndarray:
        return np.array([read(p) for p in pred], dtype=np.float64)

    for name, values, tol in [
        ("type_prob", column(lambda p: list(p["type"]["probabilities"].values())), PROB_TOL),
        ("span_prob", column(lambda p: p["binary"]["probability"]), PROB_TOL),
        ("pointer_center", column(lambda p: p["pointers"]["center"]), BARS_TOL),
        ("pointer_length", column(lambda p: p["pointers"]["length"]), BARS_TOL),
        ("countdown", column(lambda p: p["countdown"]["bars"]), BARS_TOL),
    ]:
        np.testing.assert_allclose(values, getattr(want, name), rtol=0, atol=tol, err_msg=name)
    center, half = want.pointer_center, want.pointer_length / 2
    for key, raw, bars in [
        ("start", center - half, want.span_start),
        ("end", center + half, want.span_end),
    ]:
        near_boundary = np.abs(np.abs(raw - np.floor(raw)) - 0.5) < BOUNDARY
        differ = column(lambda p, key=key: p["pointers"][key]) != bars
        assert not (differ & ~near_boundary).any(), key
