"""The small training config the unit and regression tests share.

Tests import it as ``from tiny_config import tiny_config``: pytest (prepend import mode,
no ``__init__.py``) puts ``tests/`` on ``sys.path`` when it loads ``tests/conftest.py``.
A plain module rather than a conftest, because ``from conftest import ...`` finds whichever
conftest pytest loaded last (``tests/unit/conftest.py`` in the unit tests), not this folder's.
"""

from __future__ import annotations

from typing import Any

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
