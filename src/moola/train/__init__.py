"""Training: config, the train step, the loop, checkpoints and validation metrics."""

from moola.train.best import BEST_NAME, load_best
from moola.train.checkpoint import load_checkpoint, save_checkpoint
from moola.train.config import TrainConfig
from moola.train.loop import History, Trainer, TrainResult, summarise_losses
from moola.train.metrics import Evaluation, Verdict, evaluate, loss_learned, verdict

__all__ = [
    "BEST_NAME",
    "Evaluation",
    "History",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "Verdict",
    "evaluate",
    "load_best",
    "load_checkpoint",
    "loss_learned",
    "save_checkpoint",
    "summarise_losses",
    "verdict",
]


# `moola.train(config)` (the Python API, moola.api.train): this package is callable.
from moola.api import make_callable as _make_callable

_make_callable(__name__)
