"""Shared seeded short runs for the regression suite (each run is computed once per session)."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from moola.seeding import GOLDEN_THREADS
from moola.train import TrainConfig, Trainer, TrainResult

#: How every regression run executes: one thread (bit-reproducible), seed 0, 5-step logs.
RUNTIME: dict[str, Any] = dict(
    threads=GOLDEN_THREADS, log_every=5, eval_every=0, out_dir=None, progress=False, seed=0
)

#: The short-run recipe. Small model, fixed single thread: fast and bit-reproducible.
SHORT_RUN: dict[str, Any] = dict(
    n_windows=512,
    batch_size=32,
    lr=5e-3,
    steps=200,
    model={"hidden_size": 32, "projection_dim": 32},
    **RUNTIME,
)

#: The default balancer gets a longer, wider run: under the original priorities the type
#: head receives 10% of the trunk gradient and needs several hundred steps to move clearly.
DEFAULT_RUN: dict[str, Any] = {**SHORT_RUN, "steps": 600, "batch_size": 64}

#: The conditions of the original failing run: legacy normaliser, raw countdown targets in
#: bars, AdamW lr 1e-3, batch 32, ~140 steps (210 windows, 80% train, 20 epochs), default model.
FAILING_RUN: dict[str, Any] = dict(
    balancer="legacy",
    countdown_units="bars",
    features="original",  # the failing run's inputs (the move group came later)
    n_windows=512,
    batch_size=32,
    lr=1e-3,
    steps=140,
    **RUNTIME,
)


def run_config(balancer: str, **changes: Any) -> TrainConfig:
    """The golden recipe for ``balancer``; ``changes`` override fields (planted bugs)."""
    recipe = DEFAULT_RUN if balancer == "trunknorm" else SHORT_RUN
    return TrainConfig(**{**recipe, "balancer": balancer, **changes})


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
    from golden_platform import choose_goldens

    return "goldens: " + choose_goldens().describe()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist with ``--dist loadgroup`` (as ``nox -s tests`` passes), every test
    that uses the cached short runs goes to one worker, so each run is trained once, not once
    per worker (results are the same either way; only the time differs)."""
    for item in items:
        if "short_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("short_runs"))
