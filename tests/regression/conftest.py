"""Shared seeded short runs for the regression suite (each run is computed once per session)."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from moola.train import Trainer, TrainResult
from tests.helpers.configs import run_config


@functools.cache
def cached_run(balancer: str) -> TrainResult:
    return Trainer(run_config(balancer)).fit()


@pytest.fixture(scope="session")
def short_run() -> Any:
    """``short_run(name)`` -> the TrainResult of the seeded short run with that balancer."""
    return cached_run


@pytest.fixture(scope="session")
def train_run() -> Any:
    """``train_run(name, **changes)`` -> a fresh, uncached run of the golden recipe with
    ``changes`` planted (for tests that must show a golden failing)."""
    return lambda balancer, **changes: Trainer(run_config(balancer, **changes)).fit()


@pytest.fixture(scope="session")
def recipe() -> Any:
    """``recipe(name, **changes)`` -> the golden recipe's TrainConfig for that balancer (a
    fixture, so that tests need no ``from conftest import``, which finds whichever conftest
    pytest loaded last)."""
    return run_config


def pytest_report_header(config: pytest.Config) -> str:
    """Say which goldens this machine is held to, and whether its platform is known."""
    from tests.regression.golden_platform import choose_goldens

    return "goldens: " + choose_goldens().describe()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist with ``--dist loadgroup`` (as ``nox -s tests`` passes), every test
    that uses the cached short runs goes to one worker, so each run is trained once, not once
    per worker (results are the same either way; only the time differs)."""
    for item in items:
        if "short_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("short_runs"))
