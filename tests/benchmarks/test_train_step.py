"""Train-step benchmarks (pytest-benchmark).

What is timed: one optimisation step of the default JadeCompact on a fixed synthetic batch
(forward, the four task losses, the balancer's backward, gradient clipping, AdamW), as
:class:`moola.train.step.EagerStep` / :class:`~moola.train.step.GraphedStep` run it, for

* device: ``cpu``; ``cuda`` when available (skipped otherwise),
* mode: ``eager``; ``graph`` (CUDA graphs, CUDA only, balancers in ``GRAPH_SAFE_BALANCERS``),
* batch size: 32 and 256,
* balancer: ``static``, ``trunknorm`` (the default), ``legacy`` and ``pcgrad``,

next to a **legacy-style reference loop** (:func:`legacy_reference_step`): the seed code's
step, which reads every loss back with ``.item()`` on every step. ``trunknorm`` refreshes
its trunk gains every 10 steps; the ``trunknorm-cost`` group times the two kinds of step
on their own (every step a refresh, and never a refresh after the first).

Every round is one step; CUDA rounds end with ``torch.cuda.synchronize()``; warm-up rounds
run first and are not timed. Results are grouped by device and batch size, so each group's
table compares the balancers and the reference loop directly. Timings on a shared machine
are noisy: compare medians, and rerun before trusting a small difference.

Run and compare::

    nox -s bench                                   # run, save under .benchmarks/
    nox -s bench -- --benchmark-compare --benchmark-compare-fail=median:15%
    pytest tests/benchmarks --benchmark-only --benchmark-columns=min,median,mean,stddev,rounds

``--benchmark-compare`` compares with the latest saved run (on the same machine: the
saved files are per machine and Python/implementation). ``MOOLA_BENCH_THREADS`` sets the
CPU thread count (default 2). Timed runs pin glibc's malloc thresholds (see
``conftest.pin_malloc``; ``MOOLA_BENCH_MALLOC=default`` opts out), because otherwise the
cost of a step depended on which benchmarks ran before it. With ``--benchmark-disable`` (the ``tests`` session) every
benchmark runs its body once, and the assertions after it still check that the step ran:
finite losses, weights and gradient norm, and every trunk and head parameter updated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pytest
import torch

from moola.models import JadeCompact
from moola.tasks import TaskSet
from moola.train.step import GRAPH_SAFE_BALANCERS, StepOutput

from .conftest import (
    BATCH_SIZES,
    DEVICE_MODES,
    DEVICES,
    assert_params_updated,
    base_extra_info,
    bench_config,
    new_model,
    params_snapshot,
    synchronize,
)

BALANCER_NAMES = ("static", "trunknorm", "legacy", "pcgrad")

#: (warm-up rounds, timed rounds) per device and batch size. CPU rounds are few so that
#: the whole CPU run stays within a few minutes on a 2-core machine. The timed steps of
#: the default trunknorm include exactly one refresh step in ten, as in training.
ROUNDS: dict[tuple[str, int], tuple[int, int]] = {
    ("cpu", 32): (5, 50),
    ("cpu", 256): (3, 20),
    ("cuda", 32): (10, 100),
    ("cuda", 256): (10, 100),
}


def pedantic_rounds(device: str, batch: int) -> dict[str, int]:
    warmup, rounds = ROUNDS[(device, batch)]
    return {"warmup_rounds": warmup, "rounds": rounds, "iterations": 1}


def check_step_output(out: StepOutput, n_tasks: int) -> None:
    for name in ("losses", "weights"):
        value = getattr(out, name).detach().float().cpu()
        assert value.shape == (n_tasks,), name
        assert bool(torch.isfinite(value).all()), f"{name} not finite: {value.tolist()}"
    assert bool((out.weights.detach().cpu() > 0).all()), out.weights
    grad_norm = float(out.grad_norm)
    assert math.isfinite(grad_norm) and grad_norm > 0.0, grad_norm


# --------------------------------------------------------------------------- moola's step
@pytest.mark.parametrize("balancer", BALANCER_NAMES)
@pytest.mark.parametrize("batch", BATCH_SIZES, ids=lambda b: f"b{b}")
@pytest.mark.parametrize(("device", "mode"), DEVICE_MODES)
def test_train_step(benchmark, make_step_bench, device, mode, batch, balancer):
    if mode == "graph" and balancer not in GRAPH_SAFE_BALANCERS:
        pytest.skip(
            f"CUDA-graph mode supports only {', '.join(GRAPH_SAFE_BALANCERS)}; "
            f"{balancer!r} reads values on the host or draws host-side randomness"
        )
    bench = make_step_bench(device, batch, balancer, mode)
    benchmark.group = f"{device}-b{batch}"
    benchmark.extra_info.update(bench.extra_info)

    out = benchmark.pedantic(bench, **pedantic_rounds(device, batch))

    assert bench.calls >= 1
    check_step_output(out, len(bench.step.tasks))
    assert_params_updated(bench.model, bench.before)


@pytest.mark.parametrize("kind", ["refresh", "between"])
@pytest.mark.parametrize(("device", "mode"), DEVICE_MODES)
def test_trunknorm_step_cost(benchmark, make_step_bench, device, mode, kind):
    """The two kinds of trunknorm step, timed apart: a refresh step measures the trunk
    gradient norms exactly (one extra VJP through the BiLSTM per task); a step between
    refreshes reuses the stored gains. The default step mixes them 1:9."""
    batch = 32
    refresh_every = 1 if kind == "refresh" else 10**9
    bench = make_step_bench(device, batch, "trunknorm", mode, refresh_every=refresh_every)
    bench()  # the first step always refreshes (no gains yet)
    bench.before = params_snapshot(bench.model)
    benchmark.group = f"{device}-trunknorm-cost-b{batch}"
    benchmark.extra_info.update(bench.extra_info, step_kind=kind)

    out = benchmark.pedantic(bench, **pedantic_rounds(device, batch))

    assert bench.calls >= 2
    assert bench.balancer.last_step_refreshed is (kind == "refresh")
    check_step_output(out, len(bench.step.tasks))
    assert_params_updated(bench.model, bench.before)


# --------------------------------------------------------------------------- reference loop
@dataclass
class LegacyLossNormalizer:
    """The seed code's normaliser: per-task running mean of the loss, kept as Python floats
    (arithmetic mean over the warm-up steps, then an EMA with momentum 0.95)."""

    momentum: float = 0.95
    warmup_steps: int = 10
    step_count: int = 0
    running_means: dict[str, float] = field(default_factory=dict)

    def update(self, values: dict[str, float]) -> dict[str, float]:
        self.step_count += 1
        for name, value in values.items():
            mean = self.running_means.setdefault(name, value)
            if self.step_count > self.warmup_steps:
                mean = self.momentum * mean + (1 - self.momentum) * value
            else:
                mean = (mean * (self.step_count - 1) + value) / self.step_count
            self.running_means[name] = mean
        return dict(self.running_means)


def legacy_reference_step(
    model: JadeCompact,
    tasks: TaskSet,
    normalizer: LegacyLossNormalizer,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    targets: dict[str, torch.Tensor],
) -> dict[str, float]:
    """One step of the original training script: forward, the four losses, each read back
    with ``.item()`` (a host sync per loss, every step), divided by its running mean and
    weighted by its priority, backward, AdamW step. Returns the losses it read."""
    optimizer.zero_grad()
    outputs = model(x)
    losses = {t.name: t.loss(outputs[t.output_key], targets[t.name]) for t in tasks}
    values = {name: loss.item() for name, loss in losses.items()}
    means = normalizer.update(values)
    total = sum(
        t.priority * (losses[t.name] / means[t.name] if means[t.name] > 1e-8 else losses[t.name])
        for t in tasks
    )
    total.backward()
    optimizer.step()
    return values


@pytest.mark.parametrize("batch", BATCH_SIZES, ids=lambda b: f"b{b}")
@pytest.mark.parametrize("device", DEVICES)
def test_legacy_reference_loop(
    benchmark, bench_malloc, bench_threads, bench_tasks, bench_batches, device, batch
):
    dev = torch.device(device)
    config = bench_config(device, "legacy", "eager", bench_threads)
    model = new_model(config, dev)
    # The seed code's optimizer: plain AdamW with torch's defaults (no fused/foreach choice).
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    normalizer = LegacyLossNormalizer()
    x, targets = bench_batches[batch]
    x, targets = x.to(dev), {k: v.to(dev) for k, v in targets.items()}
    before = params_snapshot(model)
    benchmark.group = f"{device}-b{batch}"
    benchmark.extra_info.update(
        base_extra_info(dev, batch, bench_threads, bench_malloc),
        balancer="legacy-reference",
        mode="eager",
    )

    def run() -> dict[str, float]:
        values = legacy_reference_step(model, bench_tasks, normalizer, optimizer, x, targets)
        synchronize(dev)
        return values

    values = benchmark.pedantic(run, **pedantic_rounds(device, batch))

    assert normalizer.step_count >= 1
    assert set(values) == set(bench_tasks.names)
    assert all(math.isfinite(v) and v >= 0.0 for v in values.values()), values
    assert all(math.isfinite(m) and m > 0.0 for m in normalizer.running_means.values())
    assert_params_updated(model, before)
