"""``moola diagnose``: one seeded batch, one balancer, the gradient probe's verdict."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from moola.balancing import DEFAULT_BALANCER, make_balancer
from moola.balancing.base import StepContext
from moola.data import (
    DEFAULT_FEATURE_SET,
    OHLCWindows,
    WindowDataset,
    load_windows,
)
from moola.data.synthetic import SyntheticConfig
from moola.errors import ConfigError
from moola.models import JadeCompact, JadeConfig
from moola.probe import ProbeReport, probe_from_graph
from moola.seeding import seed_everything
from moola.tasks import make_tasks
from moola.train.checkpoint import (
    CheckpointError,
    check_feature_names,
    check_model_shapes,
    load_checkpoint,
)
from moola.train.config import resolve_device


@dataclass(frozen=True)
class DiagnoseConfig:
    balancer: str = DEFAULT_BALANCER
    seed: int = 0
    data: str = "synthetic"
    batch_size: int = 32
    countdown_units: str = "normalized"
    device: str = "cpu"
    window: int = 105
    checkpoint: str | None = None  # a trained model to probe instead of a fresh one
    #: A feature set name or comma-separated groups; None: the checkpoint's, else the default.
    features: str | None = None


def diagnose(config: DiagnoseConfig, *, windows: OHLCWindows | None = None) -> dict[str, Any]:
    """Probe each task's share of the trunk gradient under ``config.balancer``.

    The model runs in eval mode (no dropout) so that the balancer's step and the probe see
    the same forward pass; the balancer's weights for this batch are the ones probed.
    """
    if config.batch_size < 1:
        raise ConfigError(f"batch size must be >= 1, got {config.batch_size}")
    device = resolve_device(config.device)
    state = None if config.checkpoint is None else load_checkpoint(config.checkpoint)
    features = config.features
    if features is None:
        features = DEFAULT_FEATURE_SET if state is None else state["config"].get("features")
        if not isinstance(features, str):
            raise CheckpointError(
                f"checkpoint {config.checkpoint}: config['features'] is not a str"
            )
    generator = seed_everything(config.seed)
    if windows is None:
        market = SyntheticConfig(window=config.window, seed=config.seed)
        windows = load_windows(config.data, window=config.window, synthetic=market)
    dataset = WindowDataset(windows.validate(), feature_set=features)
    idx = torch.randperm(len(dataset), generator=generator)[: config.batch_size]
    batch = dataset.subset(idx.numpy())
    tasks = make_tasks(countdown_units=config.countdown_units)
    targets = {
        k: v.to(device)
        for k, v in tasks.build_targets(
            batch.label, batch.expansion_start, batch.expansion_end, batch.window
        ).items()
    }
    x = batch.x.to(device)

    if state is None:
        model = JadeCompact(JadeConfig(n_features=dataset.n_features))
    else:
        model = trained_model(state, str(config.checkpoint), dataset)
    model.to(device).eval()
    balancer = make_balancer(config.balancer, tasks, device=device)

    trunk_out = model.encode(x)
    losses = tasks.losses(model.decode(trunk_out), targets)
    weights = balancer.backward(losses, StepContext(model, trunk_out, 0))
    model.zero_grad(set_to_none=True)

    trunk_out = model.encode(x)
    losses = tasks.losses(model.decode(trunk_out), targets)
    report: ProbeReport = probe_from_graph(
        losses, trunk_out, model.trunk_parameters(), weights, tasks.priorities(device), tasks.names
    )
    result = report.to_dict()
    natural = tasks.to_natural(losses.detach()).tolist()
    for name, loss_natural, loss_train in zip(tasks.names, natural, losses.tolist()):
        result["tasks"][name]["loss"] = loss_natural
        result["tasks"][name]["loss_training_units"] = loss_train
        result["tasks"][name]["priority"] = tasks[name].priority
    return {
        "balancer": config.balancer,
        "seed": config.seed,
        "batch_size": int(x.shape[0]),
        "countdown_units": config.countdown_units,
        "features": features,
        "feature_names": list(dataset.feature_names),
        **result,
    }


def trained_model(state: dict[str, Any], path: str, dataset: WindowDataset) -> JadeCompact:
    """The checkpoint's model, built from its own configuration and checked against the data."""
    sizes = state["config"].get("model", {})
    if not isinstance(sizes, dict):
        raise CheckpointError(f"checkpoint {path}: config['model'] is not a dict")
    check_feature_names(state["feature_names"], dataset.feature_names, path)
    model = JadeCompact(JadeConfig(**{**sizes, "n_features": dataset.n_features}))
    check_model_shapes(state["model"], model, path)
    model.load_state_dict(state["model"])
    return model
