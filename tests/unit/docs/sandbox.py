"""What the docs' examples run in: a user's bar series, and training shrunk to seconds.

Shared by tests/unit/docs/test_examples.py and the tests that run an example where its
expensive input already exists (``<!-- run-in: FILE -->``, e.g. the ONNX examples in
tests/unit/cli/test_export.py, on the model that module exports anyway).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import moola.train.run
from tests.unit.docs.markdown import Block

#: What every training in an example is shrunk to (and at most TINY_STEPS steps).
TINY: dict[str, Any] = {
    "batch_size": 8,
    "model": {"hidden_size": 8, "projection_dim": 8},
    "n_windows": 64,
    "threads": 1,
    "eval_every": 6,
    "telemetry_every": 6,
    "progress": False,
}
TINY_STEPS = 12


@contextmanager
def tiny_training(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every run (``moola train``, ``moola.train(...)``) shrunk to :data:`TINY`: the examples
    show real settings, the tests check that they work, not how well."""
    real = moola.train.run.run_training

    def tiny(config: Any, **kwargs: Any) -> Any:
        if kwargs.get("resume") is None:
            values = config.to_dict() if hasattr(config, "to_dict") else dict(config)
            steps = min(int(values.get("steps", TINY_STEPS)), TINY_STEPS)
            config = {**values, **TINY, "steps": steps}
        return real(config, **kwargs)

    monkeypatch.setattr(moola.train.run, "run_training", tiny)
    yield


def write_bars(path: Path, n: int = 3000, seed: int = 0) -> None:
    """A geometric random walk as a bar series CSV, as a user's bars.csv looks."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.r_[100.0, close[:-1]]
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.004, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.004, n))
    bars = np.c_[open_, high, low, close]
    np.savetxt(path, bars, delimiter=",", header="open,high,low,close", comments="", fmt="%.5f")


def run_python(examples: list[Block], namespace: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run python blocks in order in one namespace, as a reader pastes them one after another."""
    namespace = {"__name__": "__docs_example__"} if namespace is None else namespace
    for block in examples:
        exec(compile(block.code, block.id, "exec"), namespace)
    return namespace
