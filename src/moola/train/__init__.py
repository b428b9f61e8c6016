"""Training: the config, the run's assembly (``setup``), the train step, the loop, its
history and result, checkpoints and validation metrics."""

from moola.train.best import BEST_NAME, load_best
from moola.train.checkpoint import load_checkpoint, save_checkpoint
from moola.train.config import TrainConfig
from moola.train.history import History
from moola.train.loop import Trainer, batch_indices
from moola.train.metrics import Evaluation, Verdict, evaluate, loss_learned, verdict
from moola.train.result import TrainResult
from moola.train.setup import Run, RunData, build_data, build_run

__all__ = [
    "BEST_NAME",
    "Evaluation",
    "History",
    "Run",
    "RunData",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "Verdict",
    "batch_indices",
    "build_data",
    "build_run",
    "evaluate",
    "load_best",
    "load_checkpoint",
    "loss_learned",
    "save_checkpoint",
    "verdict",
]


# `moola.train(config)` (the Python API, moola.train.recipe.train): this package is callable.
from moola.train.recipe import make_callable as _make_callable

_make_callable(__name__)
