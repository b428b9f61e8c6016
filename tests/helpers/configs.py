"""The training configs the tests share: the tiny unit-test config, and the recipes of the
regression suite's seeded short runs (the goldens' runs, the original's failing run).

Tests import it as ``from tests.helpers.configs import tiny_config``.
"""

from __future__ import annotations

from typing import Any

from moola.seeding import GOLDEN_THREADS
from moola.train import TrainConfig


def tiny_config(*, steps: int, **overrides: Any) -> TrainConfig:
    """A seconds-long CPU run: 64 windows of 24 bars, batch 8, an 8-wide model, one thread,
    no progress bar, no output folder, validation only at start and end.

    ``steps`` is required so that no test runs the default 1000 steps by accident; every
    other field can be overridden.
    """
    values: dict[str, Any] = dict(
        n_windows=64,
        window=24,
        batch_size=8,
        model={"hidden_size": 8, "projection_dim": 8},
        threads=1,
        eval_every=0,
        out_dir=None,
        progress=False,
    )
    return TrainConfig(**{**values, "steps": steps, **overrides})


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
