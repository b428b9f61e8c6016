"""Property-based fuzzing of the server's OpenAPI schema (schemathesis) against the running
server, and a property the schema cannot state.

The fuzzing (marker ``fuzz``, ``nox -s fuzz``, outside the gate: about a minute, most of it
hypothesis building nested arrays) sends, for every operation, requests that fit the schema
and, for the two with a body, requests that break it: 200 examples each, derandomized. Every
schemathesis check runs (no 5xx; documented status codes, content types and response
schemas; schema-breaking data refused) but one: ``positive_data_acceptance``. A window can
fit the schema (24 bars of 4 positive numbers) and still hold an impossible bar (high <
low); it is refused with a 422 naming the bar, by design, and JSON Schema cannot state the
relation between a bar's prices.

The property, in the gate: any window of possible bars, at any price magnitude JSON can
carry, is answered 200 with finite numbers.
"""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

#: Examples per operation and generation mode.
EXAMPLES = 200
OPERATIONS = [
    ("GET", "/health", ["positive"]),
    ("GET", "/model", ["positive"]),
    ("GET", "/metrics", ["positive"]),
    ("POST", "/predict", ["positive", "negative"]),
    ("POST", "/predict/batch", ["positive", "negative"]),
]


@pytest.mark.fuzz
@pytest.mark.parametrize(
    ("method", "path", "mode"),
    [(method, path, mode) for method, path, modes in OPERATIONS for mode in modes],
)
def test_fuzzing_the_schema_finds_no_server_error(
    server_url: str, method: str, path: str, mode: str
) -> None:
    schemathesis = pytest.importorskip("schemathesis")
    requests = pytest.importorskip("requests")
    from schemathesis.checks import positive_data_acceptance
    from schemathesis.generation import GenerationMode

    operation = schemathesis.openapi.from_url(f"{server_url}/openapi.json")[path][method]
    statuses: dict[int, int] = {}

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=GenerationMode(mode)))
    def fuzz(case) -> None:
        response = case.call(base_url=server_url, session=session)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500, (case.body, response.text)
        case.validate_response(response, excluded_checks=[positive_data_acceptance])

    with requests.Session() as session:
        fuzz()
    print(f"{method} {path} {mode}: {sum(statuses.values())} requests, statuses {statuses}")
    assert statuses and max(statuses) < 500


@st.composite
def possible_windows(draw: st.DrawFn, window: int = 24) -> list[list[float]]:
    """Bars with low <= open, close <= high, prices anywhere from 1e-300 to 1e300."""
    exponent = draw(st.integers(-300, 300))
    spread = draw(st.sampled_from([0.0, 1e-12, 1e-3, 1.0, 1e6, 1e300]))
    unit = st.floats(0.0, 1.0)
    bars = []
    for _ in range(window):
        low = draw(st.floats(1.0, 10.0)) * 10.0**exponent
        width = draw(unit) * spread * low
        high = low + width
        if not np.isfinite(high) or high <= 0:
            high = low
        open_, close = (low + draw(unit) * (high - low) for _ in range(2))
        bars.append([min(max(p, low), high) for p in (open_, high, low, close)])
    return bars


@settings(max_examples=40, derandomize=True, deadline=None, database=None)
@given(features=possible_windows())
def test_any_possible_window_is_answered_with_finite_numbers(
    client: httpx.Client, features: list[list[float]]
) -> None:
    response = client.post("/predict", json={"features": features})
    assert response.status_code == 200, response.text
    body = response.json()
    numbers = [*body["binary"]["probability"], *body["countdown"]["bars"]]
    numbers += [*body["type"]["probabilities"].values(), body["pointers"]["center"]]
    assert np.isfinite(numbers).all()
