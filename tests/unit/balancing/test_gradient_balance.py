"""The gradient-ratio property: no task is starved of (or flooded with) trunk gradient.

Spread := max/min over tasks of (weighted trunk-gradient norm / priority), measured
exactly by the probe on the same forward pass the balancer used. For the default balancer:

* on a step where it refreshes its trunk measurements, spread <= 2;
* over a 50-step run, the spread of the run-averaged norms <= 3 and the median per-step
  spread <= 4;

across batch sizes 1-64, sequence lengths 16-256, seeds and regression-target scale
multipliers 1e-2..1e2 on the countdown and pointers. A task whose trunk gradient is exactly
zero on a batch (seen at batch size 1 when the pointer sigmoid saturates) is left out of
that step's spread: no weight can scale zero into proportion. The legacy LossNormalizer, under the
conditions of the failing run, must break the same bound: that is the bug this suite exists
to catch, and it proves the check can fail.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moola.balancing.base import StepContext
from moola.data import DEFAULT_FEATURE_SET, WindowDataset, generate_synthetic
from moola.data.synthetic import SyntheticConfig
from moola.probe import probe_from_graph
from moola.seeding import seed_everything
from moola.tasks import COUNTDOWN_CLIP, make_tasks
from moola.train import TrainConfig
from moola.train.objectives import SupervisedObjective
from moola.train.setup import build_balancer

RUN_STEPS = 50


@dataclass
class RunMeasurement:
    per_step_spread: list[float]
    refresh_spread: list[float]
    averaged_spread: float


def measure_run(
    balancer_name: str,
    *,
    batch_size: int,
    seq_len: int,
    seed: int,
    countdown_scale: float,
    pointer_scale: float = 1.0,
    steps: int = RUN_STEPS,
    hidden_size: int = 8,
    feature_set: str = DEFAULT_FEATURE_SET,
) -> RunMeasurement:
    """Train ``steps`` steps; before each balancer step, probe exact per-task trunk norms."""
    generator = seed_everything(seed, threads=1)
    windows = generate_synthetic(SyntheticConfig(n_windows=96, window=seq_len, seed=seed))
    data = WindowDataset(windows, feature_set=feature_set)
    tasks = make_tasks(countdown_scale=countdown_scale, pointer_scale=pointer_scale)
    targets = tasks.build_targets(data.label, data.expansion_start, data.expansion_end, seq_len)
    # The trainer's own builders for the model and balancer; the loop below is the train
    # step opened up, so that the probe sees the very forward pass the balancer steps on.
    config = TrainConfig(
        balancer=balancer_name,
        model={"hidden_size": hidden_size, "projection_dim": 16 if hidden_size < 64 else 64},
        out_dir=None,
        progress=False,
    )
    model = SupervisedObjective.from_config(config).build_model(
        config, data.n_features, torch.device("cpu")
    )
    balancer = build_balancer(config, tasks, torch.device("cpu"))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    priorities = tasks.priorities()

    per_step, refresh, weighted_sum = [], [], torch.zeros(len(tasks), dtype=torch.float64)
    for step in range(steps):
        idx = torch.randint(0, len(data), (batch_size,), generator=generator)
        batch_targets = {k: v[idx] for k, v in targets.items()}
        optimizer.zero_grad(set_to_none=True)
        trunk_out = model.encode(data.x[idx])
        losses = tasks.losses(model.decode(trunk_out), batch_targets)
        ones = torch.ones(len(tasks))
        raw = probe_from_graph(
            losses,
            trunk_out,
            model.trunk_parameters(),
            ones,
            priorities,
            tasks.names,
            retain_graph=True,
        ).raw_trunk_grad_norm
        weights = balancer.backward(losses, StepContext(model, trunk_out, step))
        optimizer.step()
        if balancer.needs_losses_after_step:
            with torch.no_grad():
                balancer.after_step(tasks.losses(model(data.x[idx]), batch_targets))
        per_priority = (weights.double() * raw.double()) / priorities.double()
        # A task with exactly zero trunk gradient on this batch (e.g. a saturated sigmoid at
        # batch size 1) cannot be brought into proportion by any weight; it is left out.
        live = raw > 0
        spread = float(per_priority[live].max() / per_priority[live].min())
        per_step.append(spread)
        if getattr(balancer, "last_step_refreshed", False):
            refresh.append(spread)
        weighted_sum += weights.double() * raw.double()
    averaged = weighted_sum / priorities.double()
    return RunMeasurement(per_step, refresh, float(averaged.max() / averaged.min()))


scales = st.floats(min_value=-2.0, max_value=2.0).map(lambda e: 10.0**e)


@settings(
    max_examples=6, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    batch_size=st.integers(1, 64),
    seq_len=st.integers(16, 256),
    seed=st.integers(0, 2**16),
    countdown_multiplier=scales,
    pointer_multiplier=scales,
)
def test_default_balancer_keeps_trunk_gradients_in_proportion(
    batch_size: int, seq_len: int, seed: int, countdown_multiplier: float, pointer_multiplier: float
) -> None:
    run = measure_run(
        "trunknorm",
        batch_size=batch_size,
        seq_len=seq_len,
        seed=seed,
        countdown_scale=countdown_multiplier / COUNTDOWN_CLIP,
        pointer_scale=pointer_multiplier,
    )
    assert run.refresh_spread, "the default balancer never refreshed its trunk measurements"
    assert max(run.refresh_spread) <= 2.0, run.refresh_spread
    assert run.averaged_spread <= 3.0, run.averaged_spread
    assert statistics.median(run.per_step_spread) <= 4.0, sorted(run.per_step_spread)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_legacy_normalizer_breaks_the_bound_under_the_failing_run_conditions(seed: int) -> None:
    """Raw countdown units + 0.10/0.70/0.10/0.10 on the original's features: the original
    failure, reproduced.

    Measured on the default JadeCompact at initialisation (5 seeds x batch 8/32/64, synthetic
    data, eval mode): spread 15.6-22.4x. The brief's prototype measured 29-207x; our synthetic
    features give somewhat smaller gaps, so the assertion uses a floor of 10x, still 5x the
    refresh bound and 2.5x the median bound the default balancer meets.
    """
    run = measure_run(
        "legacy",
        batch_size=32,
        seq_len=105,
        seed=seed,
        countdown_scale=1.0,
        steps=10,
        hidden_size=96,
        # The failing run's inputs (measured 14.9-17.1x, seeds 0-2). With the default set,
        # which adds the ``move`` group, the gap at initialisation is smaller (8.6-10.6x):
        # legacy is still far out of balance there, but not always past the 10x floor.
        feature_set="original",
    )
    assert run.per_step_spread[0] >= 10.0, run.per_step_spread
    assert statistics.median(run.per_step_spread) > 4.0, run.per_step_spread
    assert run.averaged_spread > 3.0, run.averaged_spread
