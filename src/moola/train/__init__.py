"""Training: config, the train step, the loop, checkpoints and validation metrics."""

from moola.train.checkpoint import load_checkpoint, save_checkpoint
from moola.train.config import TrainConfig
from moola.train.loop import History, Trainer, TrainResult, summarise_losses
from moola.train.best import BEST_NAME, load_best
from moola.train.metrics import Evaluation, Verdict, evaluate, loss_learned, verdict

__all__ = [
    "BEST_NAME",
    "Verdict",
    "load_best",
    "loss_learned",
    "verdict",
    "Evaluation",
    "History",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "evaluate",
    "load_checkpoint",
    "save_checkpoint",
    "summarise_losses",
]
