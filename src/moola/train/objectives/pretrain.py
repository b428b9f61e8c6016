"""Pretraining's objectives: learn from bars that nobody labelled, through the one loop.

- ``masked``: the original's masked reconstruction. 15 % of a window's bars are hidden (at
  random or in 10-bar patches, :mod:`moola.train.objectives.masking`) and their inputs
  reconstructed (:mod:`moola.train.objectives.reconstruction`), judged against each
  feature's training value per bar position.
- ``rule``: JadeCompact's four heads on ``moola label``'s rule, computed on the fly on the
  dense windows (:func:`moola.data.labeling.label_windows`): weak labels from unlabelled
  bars. The tasks, targets, priors and evaluation are the supervised objective's.
- ``both``: the four heads and the reconstruction on one trunk, balanced like any
  multi-task run (the heads see the window with its hidden bars; the reconstruction's
  priority is :data:`RECONSTRUCTION_PRIORITY`, the four heads' together).

The data are every window of every series (:mod:`moola.train.objectives.dense`); the model
is JadeCompact with a reconstruction head (:class:`moola.models.pretrain.PretrainModel`),
whose trunk and trained heads a finished run exports as ``pretrained.pt``.
"""

from __future__ import annotations

import hashlib
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from moola import __version__
from moola.data.labeling import LabelRule, label_windows
from moola.errors import ConfigError
from moola.models.pretrain import RECONSTRUCTION, PretrainModel
from moola.rundir.layout import PRETRAINED_NAME
from moola.rundir.pretrained import save_pretrained
from moola.tasks import TaskSet
from moola.train.objective_names import PRETRAIN_OBJECTIVES
from moola.train.objectives.base import DataPart, Objective, Part, RunData
from moola.train.objectives.dense import (
    PRIOR_WINDOWS,
    RECONSTRUCTION_PRIOR_WINDOWS,
    DensePart,
    dense_split,
    evenly,
    load_corpus,
)
from moola.train.objectives.masking import VALIDATION, MaskRule, window_masks
from moola.train.objectives.reconstruction import (
    ReconstructionTask,
    evaluate_reconstruction,
    fit_reconstruction_prior,
    hide,
    merge,
    pack,
    reconstruction_prior_loss,
)
from moola.train.objectives.supervised import model_config, supervised_tasks
from moola.verdict import BlockBootstrap, Evaluation, evaluate, fit_priors, prior_losses

if TYPE_CHECKING:
    from moola.data import OHLCWindows
    from moola.data.corpus import Corpus
    from moola.models.multitask import MultiTaskModel
    from moola.train.config import TrainConfig

#: The objectives ``moola pretrain --objective`` takes.
#: How runs and checkpoints name them: ``pretrain:masked`` ...
PREFIX = "pretrain:"
#: The reconstruction's priority beside the four heads' (which add up to 1 by default).
RECONSTRUCTION_PRIORITY = 1.0
#: Windows drawn at a time to build the validation part and the priors' sample.
CHUNK = 1024


def objective_name(kind: str) -> str:
    return f"{PREFIX}{kind}"


def is_pretrain_objective(name: str) -> bool:
    return name.startswith(PREFIX) and name[len(PREFIX) :] in PRETRAIN_OBJECTIVES


class PretrainObjective(Objective):
    """``masked``, ``rule`` or ``both`` on every window of a corpus of bar series."""

    def __init__(self, kind: str, config: TrainConfig) -> None:
        if kind not in PRETRAIN_OBJECTIVES:
            raise ConfigError(
                f"unknown pretraining objective {kind!r}; choose one of "
                f"{', '.join(PRETRAIN_OBJECTIVES)}"
            )
        self.kind = kind
        self.name = objective_name(kind)
        self.rule_tasks = supervised_tasks(config) if kind in ("rule", "both") else None
        heads = list(self.rule_tasks.tasks) if self.rule_tasks is not None else []
        if kind in ("masked", "both"):
            heads.append(ReconstructionTask(RECONSTRUCTION, RECONSTRUCTION_PRIORITY))
        super().__init__(TaskSet(tuple(heads)))
        self.mask_rule = MaskRule() if kind in ("masked", "both") else None
        if self.mask_rule is not None:
            self.mask_rule.check(config.window)
        self.label_rule = LabelRule(window=config.window, stride=1)
        self.seed = config.seed
        #: Per source, what the recipe records (set by :meth:`build_data`).
        self.sources: list[dict[str, Any]] = []
        self.inputs = "series"
        self._prior_targets: dict[str, torch.Tensor] = {}

    @classmethod
    def from_name(cls, name: str, config: TrainConfig) -> PretrainObjective:
        """The objective a checkpoint names (``pretrain:masked`` ...)."""
        if not is_pretrain_objective(name):
            raise ConfigError(f"{name!r} is not a pretraining objective")
        return cls(name[len(PREFIX) :], config)

    # ------------------------------------------------------------------ data
    def build_data(
        self,
        config: TrainConfig,
        device: torch.device,
        *,
        windows: OHLCWindows | Corpus | None = None,
    ) -> RunData:
        """The corpus's store, its dense split, the held-out windows with their targets and
        masks, and the priors fitted on a sample of training windows."""
        if windows is not None:
            raise ConfigError("pretraining reads bar series (--data), not labelled windows")
        corpus = load_corpus(config.data, window=config.window, features=config.features)
        store = corpus.store.to(device)
        self.sources = corpus.sources
        self.inputs = store.info.semantics
        parts = dense_split(store, val_fraction=config.val_fraction, embargo=config.embargo)
        val_x, val_targets = self._held_out(store, parts.val, device)
        sample = parts.train[evenly(len(parts.train), PRIOR_WINDOWS)]
        sample_x, sample_targets = self._held_out(store, sample, device)
        priors: dict[str, Any] = {}
        losses: dict[str, float] = {}
        if self.rule_tasks is not None:
            rule_sample = {k: v for k, v in sample_targets.items() if k != RECONSTRUCTION}
            rule_priors = fit_priors(self.rule_tasks, rule_sample)
            rule_val = {k: v for k, v in val_targets.items() if k != RECONSTRUCTION}
            priors.update(rule_priors)
            losses.update(prior_losses(self.rule_tasks, rule_priors, rule_val))
            self._prior_targets = rule_sample
        if self.mask_rule is not None:
            fewer = evenly(len(sample_x), RECONSTRUCTION_PRIOR_WINDOWS)
            priors[RECONSTRUCTION] = fit_reconstruction_prior(sample_x[torch.from_numpy(fewer)])
            losses[RECONSTRUCTION] = reconstruction_prior_loss(
                priors[RECONSTRUCTION], val_targets[RECONSTRUCTION]
            )
        fingerprint = hashlib.sha256(f"{self.name};{store.fingerprint}".encode()).hexdigest()
        return RunData(
            train=DensePart(torch.empty(0), {}, store=store, starts=parts.train),
            val=Part(val_x, val_targets),
            prior_losses=losses,
            priors=priors,
            feature_names=store.feature_names,
            fingerprint=fingerprint,
            window=store.window,
            split=parts.split,
            bootstrap=BlockBootstrap(
                parts.split.val_order, overlap_run=parts.split.overlap_run, seed=config.seed
            ),
        )

    def _held_out(
        self, store: Any, starts: np.ndarray, device: torch.device
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Unmasked inputs and every target of fixed windows (validation, the priors' sample):
        the labels by the rule; the reconstruction's with the run's validation masks."""
        xs, targets = [], []
        for a in range(0, len(starts), CHUNK):
            chunk = starts[a : a + CHUNK]
            x = store.gather(chunk)
            xs.append(x)
            targets.append(self._targets(store, chunk, x, VALIDATION))
        x_all = torch.cat(xs)
        return x_all, {k: torch.cat([t[k] for t in targets]) for k in targets[0]}

    def _targets(
        self, store: Any, starts: np.ndarray, x: torch.Tensor, step: int
    ) -> dict[str, torch.Tensor]:
        targets: dict[str, torch.Tensor] = {}
        if self.rule_tasks is not None:
            labels = torch.from_numpy(label_windows(store.ohlc(starts), self.label_rule))
            labels = labels.to(x.device)
            targets.update(
                self.rule_tasks.build_targets(labels[:, 0], labels[:, 1], labels[:, 2], x.shape[1])
            )
        if self.mask_rule is not None:
            mask = window_masks(self.seed, step, starts, x.shape[1], self.mask_rule)
            targets[RECONSTRUCTION] = pack(x, torch.from_numpy(mask).to(x.device))
        return targets

    def batch(
        self, part: DataPart, idx: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The windows' inputs from the store, their rule labels and, for the reconstruction,
        their hidden bars at this step (a function of the seed, the step and the window)."""
        assert isinstance(part, DensePart) and part.store is not None
        starts = part.starts_of(idx)
        x = part.store.gather(starts)
        targets = self._targets(part.store, starts, x, step)
        if self.mask_rule is not None:
            x = hide(x, targets[RECONSTRUCTION][..., -1])
        return x, targets

    # ------------------------------------------------------------------ model
    def build_model(
        self, config: TrainConfig, n_features: int, device: torch.device
    ) -> PretrainModel:
        model = PretrainModel(model_config(config, n_features), self.tasks.names)
        model.to(device)
        model.check_finite = False  # the store's bars were checked, the features are finite
        return model

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, model: MultiTaskModel, data: RunData) -> Evaluation:
        evaluation = Evaluation({}, {})
        assert isinstance(data.val, Part)  # the held-out windows, built once (build_data)
        if self.rule_tasks is not None:
            targets = {k: v for k, v in data.val.targets.items() if k != RECONSTRUCTION}
            evaluation = evaluate(
                model,
                data.val.x,
                targets,
                self.rule_tasks,
                self._prior_targets,
                bootstrap=data.bootstrap,
                priors=data.priors,
            )
        if self.mask_rule is not None:
            result = evaluate_reconstruction(
                model,
                data.val.targets[RECONSTRUCTION],
                data.priors[RECONSTRUCTION],
                bootstrap=data.bootstrap,
            )
            evaluation = merge(evaluation, {RECONSTRUCTION: result})
        return evaluation

    # ------------------------------------------------------------------ export
    def recipe(self, config: TrainConfig, step: int) -> dict[str, Any]:
        """How the weights were made: enough to make them again."""
        return {
            "command": "moola pretrain",
            "objective": self.kind,
            "sources": [dict(s) for s in self.sources],
            "inputs": self.inputs,
            "steps": step,
            "seed": config.seed,
            "config": config.to_dict(),
            "moola_version": __version__,
            "torch_version": str(torch.__version__),
            "python_version": platform.python_version(),
        }

    def write_outputs(
        self, model: MultiTaskModel, data: RunData, config: TrainConfig, step: int, folder: Path
    ) -> list[Path]:
        """``pretrained.pt``: the trunk and the trained heads with their recipe."""
        assert isinstance(model, PretrainModel)
        sizes = model.config.to_dict()
        path = save_pretrained(
            folder / PRETRAINED_NAME,
            weights=model.exported_state(),
            model_config=sizes,
            feature_names=data.feature_names,
            heads=model.heads,
            recipe=self.recipe(config, step),
        )
        return [path]
