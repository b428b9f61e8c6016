"""Training: the config and its flags, the run's assembly (``setup``), the objectives, the one
loop (``loop/``), walk-forward folds, the result and its files, and the entry point
(``run.run_training``) behind ``moola train``, every sweep run and ``moola.train(...)``.

The verdict lives in :mod:`moola.verdict`, the run folder's files in :mod:`moola.rundir`.
"""

from moola.train.config import TrainConfig
from moola.train.folds import FoldsResult
from moola.train.loop.history import History
from moola.train.loop.result import TrainResult
from moola.train.loop.trainer import Trainer, batch_indices
from moola.train.objectives import Objective, Part, RunData, SupervisedObjective
from moola.train.run import RunOutcome, run_training
from moola.train.setup import Run, build_run

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


# `moola.train(config)` (the Python API, moola.train.recipe.train): this package is callable.
from moola.train.recipe import make_callable as _make_callable

_make_callable(__name__)
