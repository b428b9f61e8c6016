"""The one assembly of a run, torchtune-style: each builder makes one part from a
:class:`~moola.train.config.TrainConfig`.

:class:`~moola.train.loop.Trainer`, ``moola diagnose``, the benchmarks and the tests all
call these builders, so what they measure is the step that training runs. :func:`build_run`
calls them in the order training needs (the model's initialisation draws from the RNG that
:func:`~moola.seeding.seed_everything` seeded, after the data is built), which keeps a run
bit-identical however it is assembled.

What ``seed`` means is fixed here, for every command: it seeds the run (initialisation,
batch order, dropout, the random split). The synthetic market is fixed by ``data_seed``, so
that runs with different seeds train on the same data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from moola.balancing import Balancer, make_balancer
from moola.data import OHLCWindows, load_windows
from moola.data.overlap import Split, choose_split
from moola.data.synthetic import SyntheticConfig
from moola.errors import ConfigError
from moola.models import JadeCompact, JadeConfig
from moola.seeding import seed_everything
from moola.tasks import TaskSet, make_tasks
from moola.train.config import TrainConfig
from moola.train.paired import BlockBootstrap
from moola.train.priors import Prior, fit_priors, prior_losses
from moola.train.split_features import split_features
from moola.train.step import EagerStep, GraphedStep, make_optimizer


@dataclass
class RunData:
    """A run's data on its device: features and targets of both splits, and what describes
    them (the split and its report, the prior-only predictors and baselines fitted on the
    training split only, the block bootstrap of the verdict's interval, feature names and the fingerprint
    the resume guard checks)."""

    x_train: torch.Tensor
    y_train: dict[str, torch.Tensor]
    x_val: torch.Tensor
    y_val: dict[str, torch.Tensor]
    baselines: dict[str, float]
    #: The prior-only predictors, fitted on the training split once (moola.train.priors).
    priors: dict[str, Prior]
    feature_names: tuple[str, ...]
    fingerprint: str
    window: int
    split: Split
    bootstrap: BlockBootstrap

    @property
    def n_features(self) -> int:
        return len(self.feature_names)


@dataclass
class Run:
    """Everything :func:`build_run` assembles; a :class:`~moola.train.loop.Trainer` trains it."""

    config: TrainConfig
    device: torch.device
    tasks: TaskSet
    data: RunData
    model: JadeCompact
    balancer: Balancer
    step: EagerStep

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        return self.step.optimizer


def load_data(config: TrainConfig) -> OHLCWindows:
    """The run's windows; the synthetic market is fixed by ``data_seed`` while ``seed`` varies."""
    market = SyntheticConfig(
        n_windows=config.n_windows, window=config.window, seed=config.data_seed
    )
    return load_windows(config.data, window=config.window, synthetic=market)


def build_tasks(config: TrainConfig) -> TaskSet:
    return make_tasks(countdown_units=config.countdown_units, priorities=config.priorities)


def build_data(
    config: TrainConfig,
    tasks: TaskSet,
    device: torch.device,
    *,
    windows: OHLCWindows | None = None,
) -> RunData:
    """Load (unless ``windows`` is given), check, split and featurise the data, and build the
    targets and the prior-only baselines. The whole data set is checked for finite features
    once here, so the model can skip its per-batch check. Each window's features are held
    once, as float32, in its split's array; the OHLC is not kept."""
    windows = windows if windows is not None else load_data(config)
    windows.validate()
    # The split (random, chronological, or purged on detected shared bars) and its report.
    split = choose_split(
        windows, val_fraction=config.val_fraction, seed=config.seed, embargo=config.embargo
    )
    train_idx, val_idx = split.train, split.val
    # Features once, as float32, chunk by chunk into their split (moola.train.split_features).
    feats = split_features(windows, train_idx, val_idx, feature_set=config.features)
    window = windows.window

    def targets(idx: np.ndarray) -> dict[str, torch.Tensor]:
        built = tasks.build_targets(
            torch.from_numpy(windows.label[idx]),
            torch.from_numpy(windows.expansion_start[idx]),
            torch.from_numpy(windows.expansion_end[idx]),
            window,
        )
        return {k: v.to(device) for k, v in built.items()}

    x_train, y_train = feats.x_train.to(device), targets(train_idx)
    x_val, y_val = feats.x_val.to(device), targets(val_idx)
    priors = fit_priors(tasks, y_train)
    return RunData(
        x_train=x_train,
        y_train=y_train,
        x_val=x_val,
        y_val=y_val,
        # Prior-only baselines, fitted on the training split only and evaluated on validation.
        baselines=prior_losses(tasks, priors, y_val),
        priors=priors,
        feature_names=feats.feature_names,
        fingerprint=feats.fingerprint,
        window=window,
        split=split,
        bootstrap=BlockBootstrap(split.val_order, overlap_run=split.overlap_run, seed=config.seed),
    )


def model_config(config: TrainConfig, n_features: int) -> JadeConfig:
    """The model's sizes: ``config.model``'s (checked when the config was made,
    :func:`moola.train.config.check_model_sizes`), with the input width taken from the data."""
    return JadeConfig(**{**config.model, "n_features": n_features})


def build_model(config: TrainConfig, n_features: int, device: torch.device) -> JadeCompact:
    """A freshly initialised model on ``device`` (initialisation draws from the seeded RNG)."""
    model = JadeCompact(model_config(config, n_features))
    model.to(device)
    model.check_finite = False  # build_data checked the whole data set
    return model


def build_balancer(config: TrainConfig, tasks: TaskSet, device: torch.device) -> Balancer:
    return make_balancer(config.balancer, tasks, device=device, **config.balancer_options)


def build_step(
    config: TrainConfig,
    model: JadeCompact,
    tasks: TaskSet,
    balancer: Balancer,
    device: torch.device,
) -> EagerStep:
    """The train step with its optimizer (over the model's and the balancer's parameters):
    eager, or captured in CUDA graphs with ``config.graph``."""
    optimizer = make_optimizer(
        list(model.parameters()) + balancer.parameters(),
        lr=config.lr,
        weight_decay=config.weight_decay,
        device=device,
        graph=config.graph,
    )
    step_cls = GraphedStep if config.graph else EagerStep
    return step_cls(model, tasks, balancer, optimizer, grad_clip=config.grad_clip, bf16=config.bf16)


def build_run(config: TrainConfig, *, windows: OHLCWindows | None = None) -> Run:
    """Seed, then build data, model, balancer and step, in the order training needs."""
    seed_everything(config.seed, threads=config.threads)
    device = config.resolve_device()
    if config.graph and device.type != "cuda":
        raise ConfigError("--graph needs a CUDA device; use --device cuda or drop --graph")
    tasks = build_tasks(config)
    data = build_data(config, tasks, device, windows=windows)
    model = build_model(config, data.n_features, device)
    balancer = build_balancer(config, tasks, device)
    step = build_step(config, model, tasks, balancer, device)
    return Run(config, device, tasks, data, model, balancer, step)


def model_settings(model: JadeCompact) -> dict[str, object]:
    """The model's configuration as plain data (what ``best.pt`` records)."""
    return asdict(model.config)
