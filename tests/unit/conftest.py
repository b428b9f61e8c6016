"""Unit tests run on one CPU thread: tiny models run fastest that way, and results do not
depend on the machine's core count. ``run_dir``: one tiny trained run that the inference,
CLI and serving tests read from."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import moola
from tests.helpers.configs import tiny_config


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 20-step tiny run with best weights (evaluated every 10 steps), written like
    ``moola train --out`` (read-only: tests load and predict from it)."""
    out = tmp_path_factory.mktemp("run") / "tiny"
    moola.train(tiny_config(steps=20, eval_every=10, out_dir=str(out)))
    return out
