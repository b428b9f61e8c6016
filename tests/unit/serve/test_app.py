"""The endpoints over real HTTP: predictions equal ``moola.predict``'s, ``/model`` states what
is served with the run's own verdict, ``/metrics`` counts what happened, and bad requests
leave the server answering."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pytest

import moola
from moola.data import LABEL_NAMES
from tests.unit.serve.conftest import MAX_BATCH, random_windows


def test_health_says_ok(client: httpx.Client) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["backend"] == "torch"
    assert body["uptime_seconds"] >= 0


def test_predict_returns_every_head_as_moola_predict_does(client: httpx.Client, served) -> None:
    window = random_windows(1, served.loaded.window, seed=1)[0]
    response = client.post("/predict", json={"features": window.tolist()})
    assert response.status_code == 200, response.text
    got = response.json()
    want = moola.predict(moola.load_model(served.loaded.path.parent), window[None])
    # JSON carries a float64 exactly (shortest round-trip repr): the same numbers, not close ones
    assert got["type"]["probabilities"] == dict(zip(LABEL_NAMES, want.type_prob[0].tolist()))
    assert got["type"]["label"] == want.type_name[0]
    assert got["pointers"] == {
        "start": int(want.span_start[0]),
        "end": int(want.span_end[0]),
        "center": float(want.pointer_center[0]),
        "length": float(want.pointer_length[0]),
    }
    assert got["binary"]["probability"] == want.span_prob[0].tolist()
    assert got["binary"]["in_span"] == want.span[0].tolist()
    assert got["countdown"]["bars"] == want.countdown[0].tolist()
    assert len(got["countdown"]["bars"]) == served.loaded.window


def test_batch_predicts_each_window_in_order(client: httpx.Client, served) -> None:
    windows = random_windows(5, served.loaded.window, seed=2)
    response = client.post("/predict/batch", json={"windows": windows.tolist()})
    assert response.status_code == 200, response.text
    got = response.json()["predictions"]
    want = moola.predict(served.loaded, windows)
    assert len(got) == 5
    for i, window in enumerate(got):
        assert list(window["type"]["probabilities"].values()) == want.type_prob[i].tolist()
        assert window["countdown"]["bars"] == want.countdown[i].tolist()
        assert window["binary"]["probability"] == want.span_prob[i].tolist()
        assert window["pointers"]["start"] == want.span_start[i]


def test_model_states_what_is_served_and_the_runs_own_verdict(
    client: httpx.Client, run_dir: Path
) -> None:
    info = client.get("/model").json()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    best = metrics["best"]
    assert info["run"] == str(run_dir) and info["file"] == str(run_dir / "best.pt")
    assert (info["weights"], info["step"]) == ("best", best["step"])
    assert info["backend"] == "torch" and info["window"] == 24
    assert info["feature_names"] == metrics["feature_names"]
    assert info["feature_set"] == metrics["config"]["features"]
    assert info["columns"] == ["open", "high", "low", "close"]
    assert info["max_batch"] == MAX_BATCH
    verdict = info["verdict"]
    assert verdict["known"] and "best weights (step" in verdict["source"]
    assert set(verdict["heads"]) == {"type", "pointers", "binary", "countdown"}
    for head, judged in verdict["heads"].items():
        assert judged == {
            "learned": best["tasks"][head]["learned"],
            "why": best["tasks"][head]["why"],
        }


def test_the_openapi_schema_states_the_window_length_and_the_batch_limit(
    client: httpx.Client,
) -> None:
    assert client.get("/docs").status_code == 200
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    features = schemas["PredictRequest"]["properties"]["features"]
    assert features["minItems"] == features["maxItems"] == 24
    assert features["items"]["minItems"] == features["items"]["maxItems"] == 4
    assert features["items"]["items"]["exclusiveMinimum"] == 0
    windows = schemas["BatchRequest"]["properties"]["windows"]
    assert (windows["minItems"], windows["maxItems"]) == (1, MAX_BATCH)


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in the Prometheus text format (0 when absent)."""
    want = ",".join(f'{key}="{value}"' for key, value in labels.items())
    key = f"{name}{{{want}}}" if labels else name
    for line in text.splitlines():
        sample, _, value = line.rpartition(" ")
        if sample == key:
            return float(value)
    return 0.0


def test_metrics_count_requests_errors_and_latency(client: httpx.Client, served) -> None:
    before = client.get("/metrics").text
    window = random_windows(1, served.loaded.window, seed=3)[0].tolist()
    assert client.post("/predict", json={"features": window}).status_code == 200
    assert client.post("/predict", json={"features": window[:3]}).status_code == 422
    assert client.get("/no/such/path").status_code == 404
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    after = response.text

    def grew(name: str, **labels: str) -> float:
        return metric(after, name, **labels) - metric(before, name, **labels)

    ok = {"endpoint": "/predict", "method": "POST"}
    assert grew("moola_serve_requests_total", **ok, status="200") == 1
    assert grew("moola_serve_requests_total", **ok, status="422") == 1
    assert grew("moola_serve_errors_total", endpoint="/predict", kind="client") == 1
    assert grew("moola_serve_errors_total", endpoint="unmatched", kind="client") == 1
    assert grew("moola_serve_request_duration_seconds_count", endpoint="/predict") == 2
    assert grew("moola_serve_windows_predicted_total") == 1
    assert metric(after, "moola_serve_model_load_seconds") == pytest.approx(served.load_seconds)
    assert metric(after, "moola_serve_errors_total", endpoint="/predict", kind="server") == 0
    assert "process_resident_memory_bytes" in after


def test_the_server_keeps_answering_after_bad_requests(client: httpx.Client, served) -> None:
    window = random_windows(1, served.loaded.window, seed=4)[0]
    bad = [
        b"",
        b"{",
        b"[" * 50_000,
        b'{"features": NaN}',
        b'{"features": [[1, 2, 0.5, Infinity]]}',
        json.dumps({"windows": [window.tolist()] * (MAX_BATCH + 1)}).encode(),
        b"\xff\xfe\x00",
    ]
    for body in bad:
        for path in ("/predict", "/predict/batch"):
            response = client.post(path, content=body, headers={"content-type": "application/json"})
            assert 400 <= response.status_code < 500, (path, body[:40], response.text)
            assert response.json()["detail"], response.text
    assert client.get("/health").json()["status"] == "ok"
    again = client.post("/predict", json={"features": window.tolist()})
    assert again.status_code == 200
    assert np.isfinite(again.json()["countdown"]["bars"]).all()


class BrokenBackend:
    """A backend with a bug: every prediction raises."""

    name = "broken"

    def predict(self, ohlc: np.ndarray) -> moola.Predictions:
        raise RuntimeError("a planted bug")


def test_a_bug_is_a_logged_json_500_and_the_server_stays_up(
    served, caplog: pytest.LogCaptureFixture
) -> None:
    from moola.serve.app import create_app
    from moola.serve.served import ServedModel
    from moola.serve.server import running

    broken = ServedModel(served.loaded, BrokenBackend(), served.verdict, 0.0)
    window = random_windows(1, served.loaded.window, seed=6)[0].tolist()
    with running(create_app(broken)) as url, httpx.Client(base_url=url) as client:
        response = client.post("/predict", json={"features": window})
        assert response.status_code == 500
        (item,) = response.json()["detail"]
        assert item["type"] == "internal" and "planted" not in response.text
        assert client.get("/health").status_code == 200  # on the same connection
        assert client.request("BREW", "/predict").status_code == 405
        text = client.get("/metrics").text
    assert metric(text, "moola_serve_errors_total", endpoint="/predict", kind="server") == 1
    brewed = {"endpoint": "/predict", "method": "other", "status": "405"}
    assert metric(text, "moola_serve_requests_total", **brewed) == 1  # no label per method
    assert any("a planted bug" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)
