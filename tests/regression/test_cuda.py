"""The CUDA paths (eager, ``--graph``, ``--bf16``) checked against the paths verified on CPU.

Every test marked ``gpu`` skips without CUDA; ``scripts/gpu-check`` runs them on a device
(``pytest -m gpu``) and keeps the measured drifts as JUnit properties. The unmarked tests
below them run on the CPU, in the gate: they show, with the same recipe, that each
tolerance passes rounding-level differences and fails a real change, so a green device run
means something. ``MOOLA_GPU_DRY_RUN=1`` (``scripts/gpu-check --dry-run``) runs the ``gpu``
tests on the CPU instead, to check the test code without a device; the ``--graph`` ones must
fail there.

**Tolerances, from the arithmetic.** float32 rounds to u = 2^-24 ≈ 6e-8. Two
implementations of the same step (another kernel, another device, the same kernels replayed
from a graph) differ by a few u per operation, ~√n·u ≈ 6e-6 through a reduction of n ≈ 10^4
terms. Training then amplifies a difference: measured on CPU with this recipe
(``cuda_compare.perturb_parameters``), every parameter perturbed by 6e-8 relative drifts to
≤ 3.6e-5 in the per-step losses after 60 steps (``uncertainty``, the strongest amplifier;
static 3.2e-6, trunknorm 2.4e-7), and swapping AdamW's foreach kernel for the fused one
(which is what ``--graph`` does on CUDA: capturable-foreach against the eager fused step)
drifts by ≤ 3.5e-6 (loss) and 2.8e-6 (parameters, relative to the distance trained).

* graph vs eager, 60 steps: **1e-3** for both, ≥ 280× the measured kernel-swap drift and
  ≥ 2.7× the drift of a 16-u perturbation of every parameter (3.7e-4, uncertainty); a graph
  bug of the smallest kind, one refresh step off (trunknorm ``refresh_every`` 11 for 10),
  drifts by 8e-2 (loss) and 0.19 (parameters), an lr 1% off by 0.20 and 0.18.
* CPU vs CUDA, first 20 steps, dropout off (the two devices draw different masks), float32
  (cuDNN's TF32 off): **1e-3** (loss) and **5e-3** (parameters). A 1e-5 perturbation of every
  parameter (~170 u, above any per-op difference) drifts by 2.8e-5 and 1.9e-4; an lr 1% off by
  2.4e-2 and 1.5e-2.
* CPU vs CUDA with torch's defaults, where cuDNN runs the LSTM in TF32 (10-bit mantissa,
  u = 2^-11 ≈ 4.9e-4 per operand): **5e-2** and **1e-1**, a check for gross errors only. A
  perturbation of 5e-4 drifts by 2.2e-3 and 9.3e-3 after 20 steps, and TF32 rounds in every
  step, not once; a refresh step off by one drifts by 9.6e-2 (loss).
* ``--resume`` of a graph run (and of an eager CUDA run): **exact**. The resumed run replays the
  same kernels on the same values (the warm-up before each capture is undone bit for bit),
  as on CPU; this assumes CUDA's kernels are deterministic for a fixed stream, which the
  eager case checks on its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from moola.train import TrainConfig, Trainer, TrainResult
from moola.train.step import GRAPH_SAFE_BALANCERS
from tests.regression.cuda_compare import (
    DEVICE,
    DRY_RUN,
    GPU_RUN,
    NO_DROPOUT,
    Drift,
    Tolerance,
    Trajectory,
    cuda_config,
    drift,
    perturb_parameters,
    record,
)

CUDA = torch.cuda.is_available()
requires_cuda = pytest.mark.skipif(not (CUDA or DRY_RUN), reason="CUDA is not available")

GRAPH_VS_EAGER = Tolerance(loss_rel=1e-3, param_rel=1e-3)
CPU_VS_CUDA_FP32 = Tolerance(loss_rel=1e-3, param_rel=5e-3)
CPU_VS_CUDA_TF32 = Tolerance(loss_rel=5e-2, param_rel=1e-1)
GRAPH_STEPS, CROSS_DEVICE_STEPS = 60, 20


def gpu_test(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a test ``gpu`` (selected by ``pytest -m gpu``) and skip it without CUDA."""
    return pytest.mark.gpu(requires_cuda(fn))


def assert_within(tolerance: Tolerance, d: Drift, what: str) -> None:
    problems = tolerance.violations(d)
    assert not problems, f"{what}: " + "; ".join(problems)


def heads_that_did_not_learn(result: TrainResult) -> list[str]:
    return [name for name, t in result.task_summary().items() if not t["learned"]]


def all_finite(trainer: Trainer) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in trainer.model.parameters())


@pytest.fixture
def cudnn_tf32(request: pytest.FixtureRequest) -> Iterator[bool]:
    """Set cuDNN's (and cuBLAS's) TF32 switch for one test, then restore torch's setting."""
    allow = bool(request.param)
    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = allow
    torch.backends.cuda.matmul.allow_tf32 = False  # torch's default; only cuDNN's varies
    yield allow
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before


# --------------------------------------------------------------------------- on a device
@gpu_test
@pytest.mark.parametrize("balancer", GRAPH_SAFE_BALANCERS)
def test_graph_replays_the_eager_trajectory(balancer: str, record_property: Any) -> None:
    """60 steps captured in CUDA graphs = 60 eager steps, per task and per step; trunknorm
    replays its refresh graph at steps 10, 20, ..., 50 between runs of its in-between graph."""
    eager = record(cuda_config(balancer, GRAPH_STEPS))
    graph = record(cuda_config(balancer, GRAPH_STEPS, graph=True))
    assert graph.graphs == (2 if balancer == "trunknorm" else 1)
    d = drift(eager, graph)
    print(f"{balancer}: --graph against eager: {d}")  # in the device log (pytest -rA)
    for key, value in d.as_properties("graph_vs_eager_").items():
        record_property(key, value)
    assert_within(GRAPH_VS_EAGER, d, f"{balancer}: --graph against eager")


@gpu_test
@pytest.mark.parametrize("mode", ["graph", "eager"])
@pytest.mark.parametrize("balancer", GRAPH_SAFE_BALANCERS)
def test_resume_continues_a_cuda_run_exactly(balancer: str, mode: str, tmp_path: Path) -> None:
    """27 steps, checkpoint, ``--resume`` to 60 = 60 straight steps, bit for bit (27 is off
    the 5-step log grid and off trunknorm's 10-step refresh grid). The eager case tells a
    graph problem from non-deterministic CUDA kernels: if both fail, the kernels are to blame."""
    recipe = dict(graph=mode == "graph", log_every=5, eval_every=20)
    straight = Trainer(cuda_config(balancer, GRAPH_STEPS, **recipe))
    straight_history = straight.fit().history

    first = Trainer(cuda_config(balancer, 27, **recipe, out_dir=str(tmp_path)))
    first.fit()
    resumed = Trainer.resume(first.save(tmp_path), steps=GRAPH_STEPS)
    assert resumed.step == 27 and resumed.config.graph == (mode == "graph")
    resumed_history = resumed.fit().history

    differences = history_differences(straight_history.losses, resumed_history.losses)
    assert not differences, f"{mode} resume is not exact; first differences: {differences[:3]}"
    assert resumed_history.state_dict() == straight_history.state_dict()
    for (name, p), q in zip(
        straight.model.state_dict().items(), resumed.model.state_dict().values()
    ):
        assert torch.equal(p, q), f"{name} differs after the resume by {(p - q).abs().max()}"


def history_differences(
    a: dict[str, list[float]], b: dict[str, list[float]]
) -> list[tuple[str, int, float]]:
    """(task, logged row, relative difference) wherever two loss histories are not equal."""
    out = []
    for task, values in a.items():
        for row, (x, y) in enumerate(zip(values, b[task])):
            if x != y:
                out.append((task, row, abs(x - y) / max(abs(x), 1e-30)))
    return out


@gpu_test
def test_graph_replays_the_eager_trajectory_without_dropout(record_property: Any) -> None:
    """The same comparison with dropout off: if only the test with dropout fails, the graph
    draws other dropout masks than the eager step (the CUDA RNG offsets), not other math."""
    model = {**GPU_RUN["model"], **NO_DROPOUT}
    eager = record(cuda_config("trunknorm", GRAPH_STEPS, model=model))
    graph = record(cuda_config("trunknorm", GRAPH_STEPS, model=model, graph=True))
    d = drift(eager, graph)
    print(f"trunknorm, no dropout: --graph against eager: {d}")
    for key, value in d.as_properties("graph_vs_eager_").items():
        record_property(key, value)
    assert_within(GRAPH_VS_EAGER, d, "trunknorm without dropout: --graph against eager")


@gpu_test
def test_bf16_every_head_learns_under_the_default_balancer(recipe: Any) -> None:
    """The regression suite's recipe for the default balancer (600 steps, batch 64), bf16."""
    trainer = Trainer(recipe("trunknorm", device=DEVICE, bf16=True))
    result = trainer.fit()  # a non-finite loss, weight or gradient raises here
    assert all_finite(trainer)
    assert heads_that_did_not_learn(result) == [], {
        n: t["why"] for n, t in result.task_summary().items()
    }


@gpu_test
@pytest.mark.parametrize("balancer", ["static", "uncertainty"])
def test_bf16_short_runs_stay_finite(balancer: str, recipe: Any) -> None:
    """The regression suite's short recipe (200 steps, batch 32), bf16."""
    trainer = Trainer(recipe(balancer, device=DEVICE, bf16=True))
    result = trainer.fit()
    assert all_finite(trainer)
    assert all(math.isfinite(v) for v in result.final.losses.values()), result.final.losses


@gpu_test
@pytest.mark.parametrize(
    ("cudnn_tf32", "tolerance"),
    [(False, CPU_VS_CUDA_FP32), (True, CPU_VS_CUDA_TF32)],
    ids=["fp32", "tf32-default"],
    indirect=["cudnn_tf32"],
)
def test_cpu_and_cuda_eager_agree_on_the_first_20_steps(
    cudnn_tf32: bool, tolerance: Tolerance, record_property: Any
) -> None:
    model = {**GPU_RUN["model"], **NO_DROPOUT}
    cpu = record(cuda_config("trunknorm", CROSS_DEVICE_STEPS, device="cpu", model=model))
    cuda = record(cuda_config("trunknorm", CROSS_DEVICE_STEPS, model=model))
    d = drift(cpu, cuda)
    print(f"CPU against CUDA, cuDNN TF32 {cudnn_tf32}: {d}")
    for key, value in d.as_properties("cpu_vs_cuda_").items():
        record_property(key, value)
    assert_within(tolerance, d, f"CPU against CUDA (cuDNN TF32 {'on' if cudnn_tf32 else 'off'})")


# --------------------------------------------------------------------------- on the CPU
def cpu_config(balancer: str, steps: int, **changes: Any) -> TrainConfig:
    """The GPU tests' recipe, on one CPU thread."""
    return cuda_config(balancer, steps, device="cpu", threads=1, **changes)


def test_every_gpu_test_is_marked_and_skips_exactly_without_cuda() -> None:
    gpu_tests = [
        fn
        for name, fn in globals().items()
        if name.startswith("test_") and any(m.name == "gpu" for m in getattr(fn, "pytestmark", []))
    ]
    assert len(gpu_tests) == 6
    for fn in gpu_tests:
        (skip,) = [m for m in fn.pytestmark if m.name == "skipif"]
        assert skip.args == (not (torch.cuda.is_available() or DRY_RUN),), fn.__name__


def test_drift_of_a_trajectory_with_itself_is_zero_and_nan_is_infinite() -> None:
    losses = np.array([[1.0, 0.5], [0.8, 0.0]])
    start, end = np.zeros(3), np.array([3.0, 4.0, 0.0])
    same = Trajectory(losses, start, end)
    assert drift(same, same) == Drift(0.0, 0.0, 1)
    off = Trajectory(
        losses + np.array([[0.0, 0.0], [0.0, 2e-3]]), start, end + np.array([0.0, 0.0, 0.5])
    )
    d = drift(same, off)
    assert d.loss_rel == pytest.approx(2.0)  # 2e-3 against the 1e-3 floor of a 0.0 loss
    assert d.param_rel == pytest.approx(0.1) and d.worst_step == 2
    assert GRAPH_VS_EAGER.violations(d) and not Tolerance(2.1, 0.11).violations(d)
    broken = Trajectory(losses * np.array([[1.0, 1.0], [math.nan, 1.0]]), start, end)
    assert drift(same, broken).loss_rel == math.inf
    with pytest.raises(ValueError, match="shape"):
        drift(same, Trajectory(losses[:1], start, end))


@pytest.mark.parametrize("balancer", ["trunknorm", "uncertainty"])
def test_graph_tolerance_passes_rounding_noise(balancer: str) -> None:
    """16 u in every parameter (1e-6), more than a kernel swap, stays within the tolerance."""
    reference = record(cpu_config(balancer, GRAPH_STEPS))
    noisy = record(cpu_config(balancer, GRAPH_STEPS), before_fit=perturb_parameters(1e-6))
    assert_within(GRAPH_VS_EAGER, drift(reference, noisy), "rounding noise")


def test_graph_tolerance_fails_a_refresh_one_step_off_and_an_lr_one_percent_off() -> None:
    reference = record(cpu_config("trunknorm", GRAPH_STEPS))
    for changes in ({"balancer_options": {"refresh_every": 11}}, {"lr": GPU_RUN["lr"] * 1.01}):
        changed = record(cpu_config("trunknorm", GRAPH_STEPS, **changes))
        d = drift(reference, changed)
        assert len(GRAPH_VS_EAGER.violations(d)) == 2, (changes, d)


def test_cross_device_tolerances_pass_rounding_noise_and_fail_real_changes() -> None:
    model = {**GPU_RUN["model"], **NO_DROPOUT}
    reference = record(cpu_config("trunknorm", CROSS_DEVICE_STEPS, model=model))

    def drift_of(**changes: Any) -> Drift:
        plant = changes.pop("perturb", None)
        config = cpu_config("trunknorm", CROSS_DEVICE_STEPS, **{"model": model, **changes})
        hook = None if plant is None else perturb_parameters(plant)
        return drift(reference, record(config, before_fit=hook))

    assert_within(CPU_VS_CUDA_FP32, drift_of(perturb=1e-5), "170 u of noise, fp32")
    assert_within(CPU_VS_CUDA_TF32, drift_of(perturb=5e-4), "TF32-sized noise")
    assert CPU_VS_CUDA_FP32.violations(drift_of(lr=GPU_RUN["lr"] * 1.01))
    assert CPU_VS_CUDA_TF32.violations(drift_of(balancer_options={"refresh_every": 11}))
