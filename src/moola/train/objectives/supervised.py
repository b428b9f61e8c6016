"""JadeCompact's objective: its four heads (type, pointers, binary, countdown) learn from a
window's labels, and each is judged against its prior-only predictor.

This is what ``moola train`` runs. The data are labelled windows (``--data``) as views over a
series store (:mod:`moola.data.corpus`): each bar's inputs computed once, a batch drawn as
one gather, its targets built from the windows' labels when it is drawn
(:class:`~moola.train.objectives.labelled.LabelledPart`). The priors are fitted on the
training part's labels only (:func:`moola.verdict.fit_label_priors`), and the validation
part is scored a chunk at a time (:func:`moola.verdict.evaluate_chunks`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from moola.data import OHLCWindows
from moola.data.corpus import Corpus, corpus_of_windows, load_corpus
from moola.data.splits import split_timeline
from moola.data.synthetic import SyntheticConfig
from moola.models import JadeCompact, JadeConfig
from moola.tasks import TaskSet, make_tasks
from moola.train.objectives.base import EVAL_CHUNK, Objective, RunData
from moola.train.objectives.labelled import LabelledPart
from moola.verdict import (
    BlockBootstrap,
    Evaluation,
    evaluate_chunks,
    fit_label_priors,
    label_prior_window_losses,
)
from moola.verdict.power import expected_half_widths, small_part_warning

if TYPE_CHECKING:
    from moola.models.multitask import MultiTaskModel
    from moola.train.config import TrainConfig


def load_data(config: TrainConfig) -> Corpus:
    """The run's labelled windows as a corpus; the synthetic market is fixed by ``data_seed``
    while ``seed`` varies, and bar series are cut every ``stride`` bars."""
    market = SyntheticConfig(
        n_windows=config.n_windows, window=config.window, seed=config.data_seed
    )
    return load_corpus(
        config.data,
        window=config.window,
        stride=config.stride,
        feature_set=config.features,
        inputs=config.inputs,
        synthetic=market,
    )


def as_corpus(windows: OHLCWindows | Corpus, config: TrainConfig) -> Corpus:
    """Windows given to a run (the API, a fold, a sweep's worker) as a corpus."""
    if isinstance(windows, Corpus):
        return windows
    return corpus_of_windows(windows, feature_set=config.features, inputs=config.inputs)


def validation_warnings(
    prior_window: dict[str, torch.Tensor], bootstrap: BlockBootstrap, config: TrainConfig
) -> list[dict[str, str]]:
    """A warning when the validation set is too small for the interval to decide
    (:mod:`moola.verdict.power`); ``prior_window``: the prior's loss on each validation
    window, per head."""
    losses = {k: v.numpy() for k, v in prior_window.items()}
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

    def __init__(self, tasks: TaskSet) -> None:
        super().__init__(tasks)
        self.corpus: Corpus | None = None  # what build_data drew its parts from

    @classmethod
    def from_config(cls, config: TrainConfig) -> SupervisedObjective:
        return cls(supervised_tasks(config))

    def build_data(
        self,
        config: TrainConfig,
        device: torch.device,
        *,
        windows: OHLCWindows | Corpus | None = None,
    ) -> RunData:
        """Load (unless ``windows``, or a corpus of them, is given) and split the data; fit
        the priors on the training part's labels. The store's inputs are finite (checked
        when it was built), so the model skips its per-batch check. Nothing per window is
        held but each part's first bars and labels; the store holds each bar once."""
        corpus = as_corpus(windows, config) if windows is not None else load_data(config)
        self.corpus = corpus
        if device.type != "cpu":
            corpus.store.to(device)
        # The split (random, chronological, or purged on detected shared bars) and its report.
        split = split_timeline(
            corpus.timeline,
            val_fraction=config.val_fraction,
            seed=config.seed,
            embargo=config.embargo,
        )
        window = corpus.window
        train = LabelledPart(corpus, split.train, self.tasks)
        val = LabelledPart(corpus, split.val, self.tasks)
        priors = fit_label_priors(self.tasks, corpus.labels(split.train), window)
        bootstrap = BlockBootstrap(split.val_order, overlap_run=split.overlap_run, seed=config.seed)
        # The priors' per-window losses on validation, their targets built a chunk at a time.
        prior_window = label_prior_window_losses(
            self.tasks, priors, corpus.labels(split.val), window, chunk=EVAL_CHUNK
        )
        return RunData(
            train=train,
            val=val,
            # The priors' losses, fitted on the training part only and scored on validation.
            prior_losses={k: float(v.mean()) for k, v in prior_window.items()},
            priors=priors,
            feature_names=corpus.feature_names,
            fingerprint=corpus.fingerprint,
            window=window,
            split=split,
            bootstrap=bootstrap,
            warnings=validation_warnings(prior_window, bootstrap, config),
            seen_bars=corpus.seen_bars(np.concatenate([split.train, split.val])),
        )

    def legacy_fingerprint(self) -> str:
        """The data fingerprint checkpoints recorded before the series store
        (:meth:`moola.data.corpus.Corpus.legacy_fingerprint`)."""
        assert self.corpus is not None, "build_data first"
        return self.corpus.legacy_fingerprint()

    def build_model(
        self, config: TrainConfig, n_features: int, device: torch.device
    ) -> JadeCompact:
        """A freshly initialised JadeCompact (initialisation draws from the seeded RNG)."""
        model = JadeCompact(model_config(config, n_features))
        model.to(device)
        model.check_finite = False  # the store's inputs were checked when it was built
        return model

    def evaluate(self, model: MultiTaskModel, data: RunData) -> Evaluation:
        return evaluate_chunks(
            model,
            data.val.chunks(EVAL_CHUNK),
            self.tasks,
            data.priors,
            window=data.window,
            bootstrap=data.bootstrap,
        )
