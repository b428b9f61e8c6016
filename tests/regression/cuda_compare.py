"""Compare two training trajectories step by step: the helpers behind ``test_cuda.py``.

A trajectory is a run's per-step, per-task training losses (``log_every=1``) plus its
flattened parameters before and after training. Two trajectories *agree to a tolerance*
when every per-step loss is within ``loss_rel`` (relative) of the other's and the final
parameters differ by at most ``param_rel`` times the distance the reference run moved its
parameters (a scale-free measure: it says how much of the training the two runs did
differently, and it does not depend on how many parameters sit near zero).

Plain module, not a conftest: the CPU tests of ``test_cuda.py`` use these helpers to show
that the tolerances pass rounding-level noise and fail real changes, without a GPU.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from moola.train import TrainConfig, Trainer

#: ``MOOLA_GPU_DRY_RUN=1`` (``scripts/gpu-check --dry-run``) runs the GPU tests on the CPU: a
#: check of the test code without a device, in which the ``--graph`` tests must fail.
DRY_RUN = os.environ.get("MOOLA_GPU_DRY_RUN") == "1"
#: The device the GPU tests train on.
DEVICE = "cpu" if DRY_RUN else "cuda"

#: The GPU tests' recipe: the regression suite's short-run model (32 wide) on default-length
#: windows, every step logged so that per-step losses can be compared.
GPU_RUN: dict[str, Any] = dict(
    n_windows=256,
    batch_size=32,
    lr=5e-3,
    model={"hidden_size": 32, "projection_dim": 32},
    log_every=1,
    eval_every=0,
    out_dir=None,
    progress=False,
    seed=0,
)

#: Dropout off: CPU and CUDA draw different dropout masks from the same seed (different
#: generators), so a CPU-vs-CUDA comparison must not depend on them.
NO_DROPOUT: dict[str, float] = {"input_dropout": 0.0, "dense_dropout": 0.0}

#: Losses below this are compared absolutely (a relative difference of ~0 is meaningless).
LOSS_FLOOR = 1e-3


@dataclass(frozen=True)
class Trajectory:
    losses: np.ndarray  # (steps, tasks): per-step training losses, natural units
    start: np.ndarray  # flat parameters before the first step (float64)
    end: np.ndarray  # flat parameters after the last step (float64)
    graphs: int = 0  # CUDA graphs the run captured (one per balancer variant; 0: eager)


@dataclass(frozen=True)
class Drift:
    loss_rel: float  # max over steps and tasks of |a - b| / max(|a|, LOSS_FLOOR)
    param_rel: float  # ||end_a - end_b|| / ||end_a - start_a||
    worst_step: int  # the step (1-based) of the largest loss difference

    def as_properties(self, prefix: str) -> dict[str, float]:
        return {f"{prefix}loss_rel": self.loss_rel, f"{prefix}param_rel": self.param_rel}


@dataclass(frozen=True)
class Tolerance:
    loss_rel: float
    param_rel: float

    def violations(self, drift: Drift) -> list[str]:
        """Empty when ``drift`` is within tolerance; otherwise what is off, with numbers."""
        out = []
        if not drift.loss_rel <= self.loss_rel:
            out.append(
                f"per-step loss differs by {drift.loss_rel:.3g} relative at step "
                f"{drift.worst_step} (allowed {self.loss_rel:.3g})"
            )
        if not drift.param_rel <= self.param_rel:
            out.append(
                f"final parameters differ by {drift.param_rel:.3g} of the distance trained "
                f"(allowed {self.param_rel:.3g})"
            )
        return out


def flat_parameters(trainer: Trainer) -> np.ndarray:
    """Every trained tensor (model and balancer), as one float64 vector on the host."""
    params = list(trainer.model.parameters()) + trainer.balancer.parameters()
    return torch.cat([p.detach().double().cpu().reshape(-1) for p in params]).numpy()


def history_losses(trainer: Trainer) -> np.ndarray:
    names = trainer.history.task_names
    return np.array([trainer.history.losses[n] for n in names], dtype=np.float64).T


def record(
    config: TrainConfig, *, before_fit: Callable[[Trainer], None] | None = None
) -> Trajectory:
    """Train ``config`` (which must log every step) and return its trajectory.

    ``before_fit`` may change the fresh trainer first (the CPU tests plant a perturbation).
    """
    if config.log_every != 1:
        raise ValueError(f"a trajectory needs log_every=1, got {config.log_every}")
    trainer = Trainer(config)
    if before_fit is not None:
        before_fit(trainer)
    start = flat_parameters(trainer)
    trainer.fit()
    graphs = len(getattr(trainer.train_step, "graphs", {}))
    return Trajectory(history_losses(trainer), start, flat_parameters(trainer), graphs)


def drift(reference: Trajectory, other: Trajectory) -> Drift:
    if reference.losses.shape != other.losses.shape:
        raise ValueError(
            f"trajectories differ in shape: {reference.losses.shape} vs {other.losses.shape}"
        )
    scale = np.maximum(np.abs(reference.losses), LOSS_FLOOR)
    rel = np.abs(reference.losses - other.losses) / scale
    if not np.isfinite(rel).all():
        return Drift(math.inf, math.inf, int(np.argmax(~np.isfinite(rel).any(axis=1))) + 1)
    moved = float(np.linalg.norm(reference.end - reference.start))
    apart = float(np.linalg.norm(reference.end - other.end))
    param_rel = apart / moved if moved > 0 else math.inf
    worst = int(np.unravel_index(np.argmax(rel), rel.shape)[0]) + 1
    return Drift(float(rel.max()), param_rel, worst)


def perturb_parameters(relative: float, seed: int = 1234) -> Callable[[Trainer], None]:
    """``before_fit`` hook: multiply every parameter by (1 + relative·N(0, 1)).

    Stands in for arithmetic that rounds differently (another kernel, another device): the
    runs then differ by ``relative`` from the first step on, and the drift measured at the
    end shows how much training amplifies a difference of that size.
    """

    def plant(trainer: Trainer) -> None:
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in list(trainer.model.parameters()) + trainer.balancer.parameters():
                noise = torch.randn(p.shape, generator=generator, dtype=torch.float64)
                p.mul_((1.0 + relative * noise).to(p.dtype).to(p.device))

    return plant


def cuda_config(balancer: str, steps: int, **changes: Any) -> TrainConfig:
    """The GPU recipe for ``balancer`` (default device: ``cuda``; the CPU in a dry run)."""
    values = {**GPU_RUN, "balancer": balancer, "steps": steps, "device": DEVICE, **changes}
    return TrainConfig(**values)
