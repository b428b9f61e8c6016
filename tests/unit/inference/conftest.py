"""One tiny trained run for the inference tests (read-only: they load and predict from it)."""

from __future__ import annotations

from pathlib import Path

import pytest

import moola
from tests.helpers.configs import tiny_config


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 20-step tiny run with best weights (evaluated every 10 steps), written like
    ``moola train --out``."""
    out = tmp_path_factory.mktemp("run") / "tiny"
    moola.train(tiny_config(steps=20, eval_every=10, out_dir=str(out)))
    return out
