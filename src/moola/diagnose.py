"""``moola diagnose``: the first batch of a run, one balancer, the gradient probe's verdict.

The run is assembled by :mod:`moola.train.setup`, like training's, so the probe measures
the step that training runs. The module imports torch only when it probes:
:class:`DiagnoseConfig` gives ``moola diagnose --help`` its defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from moola.balancing.names import DEFAULT_BALANCER
from moola.errors import ConfigError, MoolaError
from moola.train.config import TrainConfig

if TYPE_CHECKING:
    from moola.data import OHLCWindows
    from moola.data.corpus import Corpus
    from moola.train.objectives import RunData


@dataclass(frozen=True)
class DiagnoseConfig:
    """What to probe. ``seed`` means what it means for ``moola train``: the run's seed (its
    initialisation, split and batch order); the synthetic market stays at ``data_seed`` 0.

    ``data``, ``features`` and ``countdown_units`` default to the checkpoint's with
    ``checkpoint``, else to ``moola train``'s defaults.
    """

    balancer: str = DEFAULT_BALANCER
    seed: int = 0
    data: str | None = None
    batch_size: int = 32
    countdown_units: str | None = None
    device: str = "cpu"
    window: int = 105
    checkpoint: str | None = None  # a trained model to probe instead of a fresh one
    #: A feature set name or comma-separated groups; None: the checkpoint's, else the default.
    features: str | None = None


def run_config(config: DiagnoseConfig, state: dict[str, Any] | None) -> TrainConfig:
    """The training config whose first batch and step are probed: the checkpoint's own run
    (its data, features, sizes and units) unless overridden, else a default run."""
    if config.batch_size < 1:
        raise ConfigError(f"batch size must be >= 1, got {config.batch_size}")
    overrides: dict[str, Any] = {
        "balancer": config.balancer,
        "balancer_options": {},
        "seed": config.seed,
        "batch_size": config.batch_size,
        "device": config.device,
        "graph": False,
        "bf16": False,
        "out_dir": None,
        "progress": False,
    }
    for name in ("data", "features", "countdown_units"):
        if getattr(config, name) is not None:
            overrides[name] = getattr(config, name)
    if state is None:
        return TrainConfig(**{"window": config.window, **overrides})
    try:
        saved = TrainConfig.from_dict(state["config"]).to_dict()
        return TrainConfig.from_dict({**saved, **overrides})
    except MoolaError as exc:
        from moola.rundir.checkpoint import CheckpointError

        raise CheckpointError(f"checkpoint {config.checkpoint} has a bad config: {exc}") from None


def diagnose(
    config: DiagnoseConfig, *, windows: OHLCWindows | Corpus | None = None
) -> dict[str, Any]:
    """Probe each task's share of the trunk gradient under ``config.balancer``, on the first
    training batch of the run, through the train step's own forward pass.

    The model runs in eval mode (no dropout) so that the balancer's step and the probe see
    the same forward pass; the balancer's weights for this batch are the ones probed.
    """
    from moola.probe import ProbeReport, probe_from_graph
    from moola.rundir.checkpoint import load_checkpoint
    from moola.train.loop.trainer import batch_indices
    from moola.train.setup import build_run

    state = None if config.checkpoint is None else load_checkpoint(config.checkpoint)
    train_config = run_config(config, state)
    run = build_run(train_config, windows=windows)
    model, tasks, data = run.model, run.tasks, run.data
    if state is not None:
        load_trained(model, state, str(config.checkpoint), data)
    batch = min(train_config.batch_size, len(data.train))
    idx = batch_indices(len(data.train), batch, train_config.seed, 0, run.device)
    x, targets = run.objective.batch(data.train, idx, 0)
    model.eval()

    losses, ctx = run.train_step.forward_losses(x, targets, split=run.balancer.uses_task_inputs)
    weights = run.balancer.backward(losses, ctx)
    model.zero_grad(set_to_none=True)

    trunk_out = model.encode(x)
    losses = tasks.losses(model.decode(trunk_out), targets)
    report: ProbeReport = probe_from_graph(
        losses,
        trunk_out,
        model.trunk_parameters(),
        weights,
        tasks.priorities(run.device),
        tasks.names,
    )
    result = report.to_dict()
    natural = tasks.to_natural(losses.detach()).tolist()
    for name, loss_natural, loss_train in zip(tasks.names, natural, losses.tolist()):
        result["tasks"][name]["loss"] = loss_natural
        result["tasks"][name]["loss_training_units"] = loss_train
        result["tasks"][name]["priority"] = tasks[name].priority
    return {
        "balancer": train_config.balancer,
        "seed": train_config.seed,
        "data": train_config.data,
        "checkpoint": config.checkpoint,
        "batch_size": int(x.shape[0]),
        "countdown_units": train_config.countdown_units,
        "features": train_config.features,
        "feature_names": list(data.feature_names),
        **result,
    }


def load_trained(model: Any, state: dict[str, Any], path: str, data: RunData) -> None:
    """Load the checkpoint's weights into ``model`` (built from the checkpoint's own config),
    after checking them against the data."""
    from moola.rundir.checkpoint import check_feature_names, check_model_shapes

    check_feature_names(state["feature_names"], data.feature_names, path)
    check_model_shapes(state["model"], model, path)
    model.load_state_dict(state["model"])
