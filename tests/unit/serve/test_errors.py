"""Every class of bad request is a 4xx JSON error that names the field, and for a price its
window, bar and column; never a 500, never the input echoed back."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pytest

from tests.unit.serve.conftest import MAX_BATCH, random_windows

K = 24  # the shared run's window
GOOD = random_windows(3, K, seed=5)


def edited(window: int, bar: int, column: int, value: Any) -> list[Any]:
    """The good window ``window`` as JSON lists, with one price replaced."""
    rows = GOOD[window].tolist()
    rows[bar][column] = value
    return rows


def set_bar(bar: int, **prices: float) -> Callable[[np.ndarray], None]:
    columns = {"open": 0, "high": 1, "low": 2, "close": 3}

    def edit(window: np.ndarray) -> None:
        for name, value in prices.items():
            window[bar, columns[name]] = value

    return edit


# (what is wrong, the bars edit, the validate_ohlc problem the message names)
IMPOSSIBLE_BARS = [
    ("high < low", set_bar(7, high=90.0, low=95.0, open=92.0, close=93.0), "high < low"),
    ("high < open", set_bar(7, open=200.0), "high < max(open, close)"),
    ("high < close", set_bar(7, close=200.0), "high < max(open, close)"),
    ("low > open", set_bar(7, open=1.0), "low > min(open, close)"),
    ("low > close", set_bar(7, close=1.0), "low > min(open, close)"),
]


@pytest.mark.parametrize(
    ("what", "edit", "problem"), IMPOSSIBLE_BARS, ids=[c[0] for c in IMPOSSIBLE_BARS]
)
def test_an_impossible_bar_is_named_by_window_and_bar(
    client: httpx.Client, what: str, edit: Callable[[np.ndarray], None], problem: str
) -> None:
    windows = GOOD.copy()
    edit(windows[2])
    response = client.post("/predict/batch", json={"windows": windows.tolist()})
    assert response.status_code == 422, response.text
    (item,) = response.json()["detail"]
    assert (item["type"], item["window"], item["bar"]) == ("ohlc_invalid", 2, 7)
    assert item["field"] == "windows[2][7]" and item["loc"] == ["body", "windows", 2, 7]
    assert item["msg"].startswith(f"window 2, bar 7: {problem}")

    response = client.post("/predict", json={"features": windows[2].tolist()})
    assert response.status_code == 422, response.text
    (item,) = response.json()["detail"]
    assert (item["field"], item["bar"], item["window"]) == ("features[7]", 7, None)
    assert item["msg"].startswith(f"bar 7: {problem}")


# (what is wrong, the price written into bar 11 of window 1's column 2 (low), error type)
BAD_PRICES = [
    ("a string", "95.0", "float_type"),
    ("a boolean", True, "float_type"),
    ("null", None, "float_type"),
    ("a list", [1.0], "float_type"),
    ("zero", 0.0, "greater_than"),
    ("negative", -1.0, "greater_than"),
]


@pytest.mark.parametrize(("what", "value", "type_"), BAD_PRICES, ids=[c[0] for c in BAD_PRICES])
def test_a_bad_price_is_named_by_window_bar_and_column(
    client: httpx.Client, what: str, value: Any, type_: str
) -> None:
    windows = [GOOD[0].tolist(), edited(1, 11, 2, value)]
    response = client.post("/predict/batch", json={"windows": windows})
    assert response.status_code == 422, response.text
    (item,) = response.json()["detail"]
    assert item["type"] == type_
    assert (item["field"], item["window"], item["bar"], item["column"]) == (
        "windows[1][11][2]",
        1,
        11,
        "low",
    )
    assert item["msg"].startswith("window 1, bar 11, low: ")
    assert "input" not in item  # nothing is echoed back


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_nan_and_infinite_literals_are_a_422_naming_the_price(
    client: httpx.Client, literal: str
) -> None:
    """JSON has no NaN, but Starlette's parser (Python's json) accepts the literals ``NaN``
    and ``Infinity``, and 1e999 overflows to inf: the schema refuses all of them by name."""
    rows = json.dumps(GOOD[0].tolist())
    first = json.dumps(GOOD[0][0].tolist())
    bad = first.replace(str(GOOD[0][0][3]), literal)  # bar 0's close
    assert bad != first
    body = '{"features": ' + rows.replace(first, bad, 1) + "}"
    response = client.post(
        "/predict", content=body.encode(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    (item,) = response.json()["detail"]
    assert (item["type"], item["field"], item["bar"], item["column"]) == (
        "finite_number",
        "features[0][3]",
        0,
        "close",
    )


@pytest.mark.parametrize(
    ("body", "field", "type_", "says"),
    [
        ({"features": GOOD[0].tolist()[:23]}, "features", "too_short", "24 bars"),
        ({"features": GOOD[0].tolist() * 2}, "features", "too_long", "24 bars"),
        ({"features": []}, "features", "too_short", "24 bars"),
        ({"features": [[*bar, 1.0] for bar in GOOD[0].tolist()]}, "features[0]", "too_long", ""),
        ({"features": [bar[:3] for bar in GOOD[0].tolist()]}, "features[0]", "too_short", ""),
        ({"features": "bars"}, "features", "list_type", ""),
        ({}, "features", "missing", ""),
        ({"features": GOOD[0].tolist(), "extra": 1}, "extra", "extra_forbidden", ""),
    ],
    ids=[
        "too-few-bars",
        "too-many-bars",
        "no-bars",
        "five-columns",
        "three-columns",
        "not-a-list",
        "missing",
        "unknown-field",
    ],
)
def test_a_malformed_window_names_the_field(
    client: httpx.Client, body: Any, field: str, type_: str, says: str
) -> None:
    response = client.post("/predict", json=body)
    assert response.status_code == 422, response.text
    items = response.json()["detail"]
    assert (items[0]["field"], items[0]["type"]) == (field, type_)
    assert says in items[0]["msg"]


def test_the_batch_limit_is_named(client: httpx.Client) -> None:
    over = {"windows": [GOOD[0].tolist()] * (MAX_BATCH + 1)}
    response = client.post("/predict/batch", json=over)
    assert response.status_code == 422, response.text
    (item,) = response.json()["detail"]
    assert (item["field"], item["type"]) == ("windows", "too_long")
    assert f"at most {MAX_BATCH} items" in item["msg"] and "--max-batch" in item["msg"]

    response = client.post("/predict/batch", json={"windows": []})
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "too_short"
    full = client.post("/predict/batch", json={"windows": [GOOD[0].tolist()] * MAX_BATCH})
    assert full.status_code == 200


def test_a_window_of_the_wrong_length_in_a_batch_names_it(client: httpx.Client) -> None:
    windows = [GOOD[0].tolist(), GOOD[1].tolist()[:5]]
    response = client.post("/predict/batch", json={"windows": windows})
    assert response.status_code == 422
    (item,) = response.json()["detail"]
    assert (item["field"], item["window"], item["type"]) == ("windows[1]", 1, "too_short")
    assert "24 bars" in item["msg"]


def test_a_body_that_is_not_json_is_a_400(client: httpx.Client) -> None:
    response = client.post(
        "/predict", content=b'{"features": [[1, 2', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    (item,) = response.json()["detail"]
    assert item["type"] == "json_invalid" and "not valid JSON" in item["msg"]


def test_a_body_larger_than_any_batch_is_a_413_before_it_is_read(client: httpx.Client) -> None:
    from moola.serve.limits import body_limit

    limit = body_limit(K, MAX_BATCH)
    response = client.post(
        "/predict/batch",
        content=b" " * (limit + 1),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["detail"][0]["type"] == "body_too_large"

    def chunks():  # no Content-Length: the limit counts the bytes as they arrive
        for _ in range(limit // (1 << 16) + 2):
            yield b" " * (1 << 16)

    streamed = client.post(
        "/predict/batch", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413
    assert "bytes" in streamed.json()["detail"][0]["msg"]
    assert client.get("/health").status_code == 200


def test_unknown_paths_and_methods_are_json_errors(client: httpx.Client) -> None:
    missing = client.get("/nowhere")
    assert missing.status_code == 404 and missing.json()["detail"][0]["type"] == "not_found"
    wrong = client.get("/predict")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
