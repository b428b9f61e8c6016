"""Training: config, the train step, the loop, checkpoints and validation metrics."""

from moola.train.checkpoint import load_checkpoint, save_checkpoint
from moola.train.config import TrainConfig
from moola.train.loop import History, Trainer, TrainResult, summarise_losses
from moola.train.metrics import Evaluation, evaluate, learned

__all__ = [
    "Evaluation",
    "History",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "evaluate",
    "learned",
    "load_checkpoint",
    "save_checkpoint",
    "summarise_losses",
]
