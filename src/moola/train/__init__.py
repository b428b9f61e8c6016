"""Training: the config and its flags, the run's assembly (``setup``), the objectives, the one
loop (``loop/``), walk-forward folds, the result and its files, and the entry point
(``run.run_training``) behind ``moola train``, every sweep run and ``moola.train(...)``.

The verdict lives in :mod:`moola.verdict`, the run folder's files in :mod:`moola.rundir`.
Importing the package imports no torch (``moola train --help`` reads only the config's
fields); every name below is imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from moola.train.config import TrainConfig
    from moola.train.folds import FoldsResult
    from moola.train.loop.history import History
    from moola.train.loop.result import TrainResult
    from moola.train.loop.trainer import Trainer, batch_indices
    from moola.train.objectives import Objective, Part, RunData, SupervisedObjective
    from moola.train.run import RunOutcome, run_training
    from moola.train.setup import Run, build_run

#: Public name -> the module that defines it.
_LAZY: dict[str, str] = {
    "FoldsResult": "moola.train.folds",
    "History": "moola.train.loop.history",
    "Objective": "moola.train.objectives",
    "Part": "moola.train.objectives",
    "Run": "moola.train.setup",
    "RunData": "moola.train.objectives",
    "RunOutcome": "moola.train.run",
    "SupervisedObjective": "moola.train.objectives",
    "TrainConfig": "moola.train.config",
    "TrainResult": "moola.train.loop.result",
    "Trainer": "moola.train.loop.trainer",
    "batch_indices": "moola.train.loop.trainer",
    "build_run": "moola.train.setup",
    "run_training": "moola.train.run",
}

__all__ = [
    "FoldsResult",
    "History",
    "Objective",
    "Part",
    "Run",
    "RunData",
    "RunOutcome",
    "SupervisedObjective",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "batch_indices",
    "build_run",
    "run_training",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'moola.train' has no attribute {name!r}")


# `moola.train(config)` (the Python API, moola.train.recipe.train): this package is callable.
from moola.train.recipe import make_callable as _make_callable  # noqa: E402

_make_callable(__name__)
