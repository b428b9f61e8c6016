"""The seam between the one training loop and what it learns: an objective and its data.

An :class:`Objective` gives the loop its tasks (losses, priorities, units), builds the run's
data and model, turns a drawn batch into inputs and targets, and evaluates the held-out
part against its prior-only predictors. Everything else (the step, the balancers, the
probe and telemetry, progress, checkpoints, the resume guard, the run folder) is the loop's
and works for any objective: JadeCompact's four supervised heads
(:mod:`moola.train.objectives.supervised`) are one objective; pretraining objectives are
others.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from moola.data.splits import Split
from moola.models.multitask import MultiTaskModel
from moola.tasks import TaskSet
from moola.verdict import BlockBootstrap, Evaluation

if TYPE_CHECKING:
    from moola.data import OHLCWindows
    from moola.data.corpus import Corpus
    from moola.train.config import TrainConfig


#: Windows evaluated at a time (their inputs: about 27 MB at K = 105, F = 16).
EVAL_CHUNK = 4096


class DataPart(ABC):
    """One part of a run's data, as the loop and the evaluation read it: its size, the
    batch of rows ``idx``, and every row in order, a chunk at a time (so that no part needs
    to be held whole: :class:`Part` holds its tensors, a store-backed part draws its rows)."""

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def take(self, idx: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The inputs and targets of the rows ``idx`` (a device index tensor)."""

    def chunks(
        self, size: int = EVAL_CHUNK
    ) -> Iterator[tuple[torch.Tensor, dict[str, torch.Tensor]]]:
        """Every row in order, ``size`` rows at a time: (inputs, targets) per chunk."""
        for a in range(0, len(self), size):
            yield self.take(torch.arange(a, min(a + size, len(self)), device=self.device))

    @property
    def device(self) -> torch.device:
        """Where the rows' inputs are made (index tensors go there)."""
        return torch.device("cpu")


@dataclass
class Part(DataPart):
    """One part of a run's data on its device: inputs (N, K, F) and targets by task name."""

    x: torch.Tensor
    targets: dict[str, torch.Tensor]

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def take(self, idx: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The rows ``idx`` (a device index tensor) of the inputs and of every target."""
        return self.x.index_select(0, idx), {
            k: v.index_select(0, idx) for k, v in self.targets.items()
        }

    @property
    def device(self) -> torch.device:
        return self.x.device


def whole(part: DataPart) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """A part's inputs and targets as whole tensors (small parts: tests, the API)."""
    if isinstance(part, Part):
        return part.x, part.targets
    pieces = list(part.chunks())
    return torch.cat([x for x, _ in pieces]), {
        k: torch.cat([t[k] for _, t in pieces]) for k in pieces[0][1]
    }


@dataclass
class RunData:
    """A run's data on its device and what describes it: both parts, the split and its
    report, the prior-only predictors fitted on the training part only and their losses on
    the validation part, the block bootstrap of the verdict's interval, the feature names and
    the fingerprint the resume guard checks."""

    train: DataPart
    val: DataPart
    #: Per task, the loss of its prior-only predictor on the validation part (natural units).
    prior_losses: dict[str, float]
    #: The prior-only predictors themselves, as the objective fitted them (training part only).
    priors: dict[str, Any]
    feature_names: tuple[str, ...]
    fingerprint: str
    window: int
    split: Split
    bootstrap: BlockBootstrap | None = None
    #: What was noticed while the data was built, as ``metrics.json`` ``warnings`` entries
    #: (``{"kind", "text"}``): a validation set too small for the interval to decide.
    warnings: list[dict[str, str]] = field(default_factory=list)
    #: The bars of the training and validation windows (``moola.data.seen``): what
    #: ``moola predict`` checks for windows the run has seen. None: not recorded.
    seen_bars: np.ndarray | None = None

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    # Whole-tensor views of the parts (small data: tests and the API).
    @property
    def x_train(self) -> torch.Tensor:
        return whole(self.train)[0]

    @property
    def y_train(self) -> dict[str, torch.Tensor]:
        return whole(self.train)[1]

    @property
    def x_val(self) -> torch.Tensor:
        return whole(self.val)[0]

    @property
    def y_val(self) -> dict[str, torch.Tensor]:
        return whole(self.val)[1]


class Objective(ABC):
    """What a run learns. Subclasses fix the data, the model, the targets and the evaluation."""

    #: How runs, checkpoints and ``metrics.json`` name the objective.
    name: str = "objective"

    def __init__(self, tasks: TaskSet) -> None:
        self.tasks = tasks

    @abstractmethod
    def build_data(
        self,
        config: TrainConfig,
        device: torch.device,
        *,
        windows: OHLCWindows | Corpus | None = None,
    ) -> RunData:
        """Load, split and featurise the data; build the targets and fit the priors on the
        training part only."""

    @abstractmethod
    def build_model(
        self, config: TrainConfig, n_features: int, device: torch.device
    ) -> MultiTaskModel:
        """A freshly initialised model on ``device`` (it draws from the seeded RNG)."""

    def batch(
        self, part: DataPart, idx: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The inputs and targets of the batch ``idx`` at ``step``: the rows as they are. An
        objective that corrupts its inputs (masking) does it here, as a function of
        ``step`` only, so that a resumed run draws the same batches."""
        return part.take(idx)

    @abstractmethod
    def evaluate(self, model: MultiTaskModel, data: RunData) -> Evaluation:
        """Every task's validation loss (natural units) and metrics beside its prior's."""

    def write_outputs(
        self, model: MultiTaskModel, data: RunData, config: TrainConfig, step: int, folder: Path
    ) -> list[Path]:
        """Files this objective adds to a finished run's folder, written before
        ``metrics.json`` (pretraining: ``pretrained.pt``); none by default."""
        return []

    def model_settings(self, model: MultiTaskModel) -> dict[str, Any]:
        """The model's configuration as plain data (``best.pt`` records it)."""
        config = getattr(model, "config", None)
        to_dict = getattr(config, "to_dict", None)
        return dict(to_dict()) if callable(to_dict) else {}
