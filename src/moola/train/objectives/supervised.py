"""JadeCompact's objective: its four heads (type, pointers, binary, countdown) learn from a
window's labels, and each is judged against its prior-only predictor.

This is what ``moola train`` runs. The data are labelled windows (``--data``); the targets
are built from each window's label and expansion span; the priors are fitted on the
training part only (:mod:`moola.verdict.priors`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from moola.data import OHLCWindows, load_windows
from moola.data.seen import record_bars
from moola.data.split_features import split_features
from moola.data.splits import choose_split
from moola.data.synthetic import SyntheticConfig
from moola.models import JadeCompact, JadeConfig
from moola.tasks import TaskSet, make_tasks
from moola.train.objectives.base import Objective, Part, RunData
from moola.verdict import (
    BlockBootstrap,
    Evaluation,
    evaluate,
    fit_priors,
    prior_losses,
    prior_window_losses,
)
from moola.verdict.power import expected_half_widths, small_part_warning
from moola.verdict.priors import Prior

if TYPE_CHECKING:
    from moola.models.multitask import MultiTaskModel
    from moola.train.config import TrainConfig


def load_data(config: TrainConfig) -> OHLCWindows:
    """The run's windows; the synthetic market is fixed by ``data_seed`` while ``seed`` varies."""
    market = SyntheticConfig(
        n_windows=config.n_windows, window=config.window, seed=config.data_seed
    )
    return load_windows(config.data, window=config.window, synthetic=market)


def validation_warnings(
    tasks: TaskSet,
    priors: dict[str, Prior],
    targets: dict[str, torch.Tensor],
    bootstrap: BlockBootstrap,
    config: TrainConfig,
) -> list[dict[str, str]]:
    """A warning when the validation set is too small for the interval to decide
    (:mod:`moola.verdict.power`)."""
    losses = {k: v.numpy() for k, v in prior_window_losses(tasks, priors, targets).items()}
    n = len(bootstrap.order)
    warning = small_part_warning(
        "validation set",
        n,
        expected_half_widths(losses, bootstrap),
        advice=f"use more data or a larger --val-fraction (now {config.val_fraction:g})",
    )
    return [] if warning is None else [warning]


def supervised_tasks(config: TrainConfig) -> TaskSet:
    """JadeCompact's four tasks with the run's countdown units and priorities."""
    return make_tasks(countdown_units=config.countdown_units, priorities=config.priorities)


def model_config(config: TrainConfig, n_features: int) -> JadeConfig:
    """The model's sizes: ``config.model``'s (checked when the config was made,
    :func:`moola.train.config.check_model_sizes`), with the input width taken from the data."""
    return JadeConfig(**{**config.model, "n_features": n_features})


class SupervisedObjective(Objective):
    """The four heads on labelled windows (``moola train``)."""

    name = "supervised"

    @classmethod
    def from_config(cls, config: TrainConfig) -> SupervisedObjective:
        return cls(supervised_tasks(config))

    def build_data(
        self, config: TrainConfig, device: torch.device, *, windows: OHLCWindows | None = None
    ) -> RunData:
        """Load (unless ``windows`` is given), check, split and featurise the data, and build
        the targets and the priors. The whole data set is checked for finite features once
        here, so the model can skip its per-batch check. Each window's features are held
        once, as float32, in its part's array; the OHLC is not kept."""
        windows = windows if windows is not None else load_data(config)
        windows.validate()
        # The split (random, chronological, or purged on detected shared bars) and its report.
        split = choose_split(
            windows, val_fraction=config.val_fraction, seed=config.seed, embargo=config.embargo
        )
        # Features once, as float32, chunk by chunk into their part (moola.data.split_features).
        feats = split_features(windows, split.train, split.val, feature_set=config.features)
        window = windows.window

        def targets(idx: np.ndarray) -> dict[str, torch.Tensor]:
            built = self.tasks.build_targets(
                torch.from_numpy(windows.label[idx]),
                torch.from_numpy(windows.expansion_start[idx]),
                torch.from_numpy(windows.expansion_end[idx]),
                window,
            )
            return {k: v.to(device) for k, v in built.items()}

        train = Part(feats.x_train.to(device), targets(split.train))
        val = Part(feats.x_val.to(device), targets(split.val))
        priors = fit_priors(self.tasks, train.targets)
        bootstrap = BlockBootstrap(split.val_order, overlap_run=split.overlap_run, seed=config.seed)
        return RunData(
            train=train,
            val=val,
            # The priors' losses, fitted on the training part only and scored on validation.
            prior_losses=prior_losses(self.tasks, priors, val.targets),
            priors=priors,
            feature_names=feats.feature_names,
            fingerprint=feats.fingerprint,
            window=window,
            split=split,
            bootstrap=bootstrap,
            warnings=validation_warnings(self.tasks, priors, val.targets, bootstrap, config),
            seen_bars=record_bars(windows, np.concatenate([split.train, split.val])),
        )

    def build_model(
        self, config: TrainConfig, n_features: int, device: torch.device
    ) -> JadeCompact:
        """A freshly initialised JadeCompact (initialisation draws from the seeded RNG)."""
        model = JadeCompact(model_config(config, n_features))
        model.to(device)
        model.check_finite = False  # build_data checked the whole data set
        return model

    def evaluate(self, model: MultiTaskModel, data: RunData) -> Evaluation:
        return evaluate(
            model,
            data.val.x,
            data.val.targets,
            self.tasks,
            data.train.targets,
            bootstrap=data.bootstrap,
            priors=data.priors,
        )
