"""The one assembly of a run, torchtune-style: each builder makes one part from a
:class:`~moola.train.config.TrainConfig` and the run's objective.

:class:`~moola.train.loop.trainer.Trainer`, ``moola diagnose``, the benchmarks and the tests
all call these builders, so what they measure is the step that training runs.
:func:`build_run` calls them in the order training needs (the model's initialisation draws
from the RNG that :func:`~moola.seeding.seed_everything` seeded, after the data is built),
which keeps a run bit-identical however it is assembled.

What ``seed`` means is fixed here, for every command: it seeds the run (initialisation,
batch order, dropout, the random split). The synthetic market is fixed by ``data_seed``, so
that runs with different seeds train on the same data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from moola.balancing import Balancer, make_balancer
from moola.collective import SINGLE, Collective, current
from moola.data import OHLCWindows
from moola.data.corpus import Corpus
from moola.errors import ConfigError
from moola.models.multitask import MultiTaskModel, copy_weights
from moola.seeding import seed_everything
from moola.tasks import TaskSet
from moola.train.config import TrainConfig
from moola.train.init import load_init as load_model_init
from moola.train.objectives import Objective, RunData, SupervisedObjective
from moola.train.step import EagerStep, GraphedStep, make_optimizer


@dataclass
class Run:
    """Everything :func:`build_run` assembles; a :class:`~moola.train.loop.trainer.Trainer`
    trains it."""

    config: TrainConfig
    device: torch.device
    objective: Objective
    data: RunData
    model: MultiTaskModel
    balancer: Balancer
    train_step: EagerStep
    #: What ``--init`` loaded (None: a random initialisation, or a resumed run's own weights).
    init: dict[str, Any] | None = None
    #: The seeded random weights ``--init`` replaced (None without ``--init``): the verdict's
    #: "below its initial loss" is measured from them, so that a pretrained start is held to
    #: the same untrained reference as a run from scratch.
    untrained: dict[str, torch.Tensor] | None = None
    #: The other processes of a data-parallel run (:mod:`moola.collective`).
    collective: Collective = field(default=SINGLE)

    @property
    def tasks(self) -> TaskSet:
        return self.objective.tasks

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        return self.train_step.optimizer


def build_objective(config: TrainConfig) -> Objective:
    """The objective a config trains: JadeCompact's four supervised heads."""
    return SupervisedObjective.from_config(config)


def build_balancer(config: TrainConfig, tasks: TaskSet, device: torch.device) -> Balancer:
    return make_balancer(config.balancer, tasks, device=device, **config.balancer_options)


def build_step(
    config: TrainConfig,
    model: MultiTaskModel,
    tasks: TaskSet,
    balancer: Balancer,
    device: torch.device,
    collective: Collective = SINGLE,
) -> EagerStep:
    """The train step with its optimizer (over the model's and the balancer's parameters):
    eager, or captured in CUDA graphs with ``config.graph``."""
    if config.graph and config.freeze_trunk_steps:
        raise ConfigError("--freeze-trunk-steps does not work with --graph; drop one of them")
    if config.graph and collective.active:
        raise ConfigError("--graph does not run under torchrun; drop --graph")
    if collective.active and not balancer.data_parallel:
        raise ConfigError(
            f"the {balancer.name!r} balancer does not run under torchrun (its weights would "
            "differ between processes); use trunknorm, static or uncertainty"
        )
    optimizer = make_optimizer(
        list(model.parameters()) + balancer.parameters(),
        lr=config.lr,
        weight_decay=config.weight_decay,
        device=device,
        graph=config.graph,
    )
    step_cls = GraphedStep if config.graph else EagerStep
    return step_cls(
        model,
        tasks,
        balancer,
        optimizer,
        grad_clip=config.grad_clip,
        bf16=config.bf16,
        freeze_trunk_steps=config.freeze_trunk_steps,
        collective=collective,
    )


def build_run(
    config: TrainConfig,
    *,
    windows: OHLCWindows | Corpus | None = None,
    objective: Objective | None = None,
    load_init: bool = True,
) -> Run:
    """Seed, then build data, model (and load ``config.init`` into it), balancer and step, in
    the order training needs.

    ``objective`` defaults to the config's (:func:`build_objective`); ``windows``, when
    given, are the data already loaded. ``load_init=False``: the caller loads the model's
    weights itself (a resumed run). Under ``torchrun`` every process builds the same run
    (same seed, same data, same initialisation: rank 0's weights are then broadcast so that
    they are the same bits everywhere) and trains on its shard of every batch."""
    seed_everything(config.seed, threads=config.threads)
    device = config.resolve_device()
    if config.graph and device.type != "cuda":
        raise ConfigError("--graph needs a CUDA device; use --device cuda or drop --graph")
    collective = current()
    objective = objective if objective is not None else build_objective(config)
    data = objective.build_data(config, device, windows=windows)
    model = objective.build_model(config, data.n_features, device)
    init = untrained = None
    if config.init is not None and load_init:
        untrained = copy_weights(model)
        sizes = objective.model_settings(model)
        init = load_model_init(model, config.init, data.feature_names, sizes)
    if collective.active:
        with torch.no_grad():
            for tensor in model.state_dict().values():
                collective.agree_(tensor)
    balancer = build_balancer(config, objective.tasks, device)
    step = build_step(config, model, objective.tasks, balancer, device, collective)
    return Run(config, device, objective, data, model, balancer, step, init, untrained, collective)
