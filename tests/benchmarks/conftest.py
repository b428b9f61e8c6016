"""Fixtures for the train-step benchmarks: fixed CPU threads, pinned glibc malloc thresholds
(timed runs only), one synthetic data set, and a factory that builds a fresh, seeded model +
balancer + optimizer + step per benchmark, by the trainer's own builders
(:mod:`moola.train.setup`), so the benchmark times the step that training runs."""

from __future__ import annotations

import ctypes
import os
import platform
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pytest
import torch

from moola.balancing import Balancer
from moola.data import FEATURE_NAMES, WindowDataset, generate_synthetic
from moola.models import JadeCompact
from moola.seeding import seed_everything
from moola.tasks import TaskSet
from moola.train import TrainConfig
from moola.train.objectives import SupervisedObjective
from moola.train.setup import build_balancer, build_step
from moola.train.step import EagerStep

#: CPU intra-op threads for every benchmark (override with MOOLA_BENCH_THREADS).
BENCH_THREADS = int(os.environ.get("MOOLA_BENCH_THREADS", "2"))
#: Batch sizes benchmarked; the synthetic data set holds exactly the largest one.
BATCH_SIZES = (32, 256)
SEED = 0

CUDA_AVAILABLE = torch.cuda.is_available()
requires_cuda = pytest.mark.skipif(not CUDA_AVAILABLE, reason="CUDA is not available")

#: (device, mode) pairs: CUDA graphs exist only on CUDA, so there is no cpu-graph pair.
DEVICE_MODES = [
    pytest.param("cpu", "eager", id="cpu-eager"),
    pytest.param("cuda", "eager", id="cuda-eager", marks=[pytest.mark.gpu, requires_cuda]),
    pytest.param("cuda", "graph", id="cuda-graph", marks=[pytest.mark.gpu, requires_cuda]),
]
DEVICES = [
    pytest.param("cpu", id="cpu"),
    pytest.param("cuda", id="cuda", marks=[pytest.mark.gpu, requires_cuda]),
]


@cache
def hardware_name(device: str) -> str:
    """The CPU model (from /proc/cpuinfo where there is one) or the CUDA device name."""
    if device == "cuda":
        return torch.cuda.get_device_name()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels, so a timed call covers the work it launched (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def params_snapshot(model: JadeCompact) -> list[torch.Tensor]:
    """Copies of the trunk and head parameters (the ones every balancer trains)."""
    return [p.detach().clone() for p in model.trunk_parameters() + model.head_parameters()]


def assert_params_updated(model: JadeCompact, before: list[torch.Tensor]) -> None:
    """Every trunk and head parameter moved and stayed finite."""
    after = model.trunk_parameters() + model.head_parameters()
    assert len(after) == len(before)
    for i, (old, new) in enumerate(zip(before, after)):
        new = new.detach()
        assert bool(torch.isfinite(new).all()), f"parameter {i} is not finite after the step"
        assert not torch.equal(old, new), f"parameter {i} did not change after the step"


#: glibc malloc settings for benchmark runs (``MOOLA_BENCH_MALLOC=default`` keeps glibc's own).
MALLOC_MMAP_THRESHOLD = 32 << 20  # the largest glibc accepts
MALLOC_TRIM_THRESHOLD = 256 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt() parameter numbers (malloc.h)


def pin_malloc() -> str:
    """Keep step-sized buffers on the heap instead of fresh ``mmap`` pages, and return a label.

    With glibc's adaptive defaults, whether a multi-megabyte activation or gradient buffer
    is served from the heap or from new zero-filled pages depends on what the process freed
    before; in a VM each such page fault is expensive, so the same step measured bimodally
    (e.g. 23 or 40 ms at batch 32) depending on which benchmarks ran earlier. Fixed
    thresholds make the step's cost independent of the test order.
    """
    if os.environ.get("MOOLA_BENCH_MALLOC", "pinned") == "default":
        return "default"
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):
        return "default (no mallopt)"
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    if (
        mallopt(_M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD) == 1
        and mallopt(_M_TRIM_THRESHOLD, MALLOC_TRIM_THRESHOLD) == 1
    ):
        return f"mmap_threshold={MALLOC_MMAP_THRESHOLD >> 20}MiB,trim_threshold={MALLOC_TRIM_THRESHOLD >> 20}MiB"
    return "default (mallopt refused)"


def benchmarks_disabled(config: pytest.Config) -> bool:
    """Whether this session only runs each benchmark body once (``--benchmark-disable``)."""
    option = config.getoption
    return bool(option("benchmark_disable", False)) and not option("benchmark_enable", False)


@pytest.fixture(scope="session")
def bench_malloc(request: pytest.FixtureRequest) -> str:
    """Pin the allocator once per session, only when benchmarks are timed (not under
    ``--benchmark-disable``, so that a plain test run keeps the process untouched)."""
    if benchmarks_disabled(request.config):
        return "untouched (benchmarks disabled)"
    return pin_malloc()


@pytest.fixture
def bench_threads(request: pytest.FixtureRequest) -> Iterator[int]:
    """Fix the CPU intra-op thread count for one benchmark, then restore the previous one.

    Untimed runs use one thread: with every core busy (parallel test sessions, xdist), a
    2-thread step spends most of its time in OpenMP barriers waiting for a descheduled
    thread, and a step that takes 25 ms alone took tens of seconds on a loaded 2-core box.
    """
    threads = 1 if benchmarks_disabled(request.config) else BENCH_THREADS
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    yield threads
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def bench_tasks() -> TaskSet:
    return SupervisedObjective.from_config(TrainConfig(out_dir=None)).tasks


@pytest.fixture(scope="session")
def bench_batches(bench_tasks: TaskSet) -> dict[int, tuple[torch.Tensor, dict[str, torch.Tensor]]]:
    """One fixed CPU batch (features, targets) per batch size, from seeded synthetic windows."""
    dataset = WindowDataset(generate_synthetic(n_windows=max(BATCH_SIZES), seed=SEED))
    assert dataset.n_features == len(FEATURE_NAMES)
    targets = bench_tasks.build_targets(
        dataset.label, dataset.expansion_start, dataset.expansion_end, dataset.window
    )
    return {
        b: (dataset.x[:b].contiguous(), {k: v[:b].contiguous() for k, v in targets.items()})
        for b in BATCH_SIZES
    }


def bench_config(
    device: str, balancer: str, mode: str, threads: int, **options: Any
) -> TrainConfig:
    """``moola train``'s defaults (optimizer, clipping, model sizes) for one benchmarked step."""
    return TrainConfig(
        device=device,
        balancer=balancer,
        balancer_options=dict(options),
        graph=mode == "graph",
        threads=threads,
        seed=SEED,
        out_dir=None,
        progress=False,
    )


def new_model(config: TrainConfig, device: torch.device) -> JadeCompact:
    """The default JadeCompact, seeded, on ``device``, as the trainer builds it."""
    seed_everything(config.seed, threads=config.threads)
    model = SupervisedObjective.from_config(config).build_model(config, len(FEATURE_NAMES), device)
    model.train()
    return model


@dataclass
class StepBench:
    """A ready-to-time train step on one fixed batch."""

    device: torch.device
    model: JadeCompact
    balancer: Balancer
    step: EagerStep
    x: torch.Tensor
    targets: dict[str, torch.Tensor]
    extra_info: dict[str, Any]
    calls: int = 0
    before: list[torch.Tensor] = field(default_factory=list)

    def __call__(self) -> Any:
        out = self.step(self.x, self.targets, self.calls)
        self.calls += 1
        synchronize(self.device)
        return out


def base_extra_info(device: torch.device, batch: int, threads: int, malloc: str) -> dict[str, Any]:
    return {
        "device": device.type,
        "hardware": hardware_name(device.type),
        "batch": batch,
        "threads": threads,
        "malloc": malloc,
        "torch": torch.__version__,
        "model": "JadeCompact(JadeConfig defaults)",
        "n_features": len(FEATURE_NAMES),
    }


@pytest.fixture
def make_step_bench(
    bench_malloc: str,
    bench_threads: int,
    bench_tasks: TaskSet,
    bench_batches: dict[int, tuple[torch.Tensor, dict[str, torch.Tensor]]],
):
    """Factory: ``make_step_bench(device, batch, balancer, mode, **balancer_options)``."""

    def build(
        device_name: str, batch: int, balancer_name: str, mode: str, **options: Any
    ) -> StepBench:
        device = torch.device(device_name)
        config = bench_config(device_name, balancer_name, mode, bench_threads, **options)
        model = new_model(config, device)
        balancer = build_balancer(config, bench_tasks, device)
        step = build_step(config, model, bench_tasks, balancer, device)
        x, targets = bench_batches[batch]
        info = base_extra_info(device, batch, bench_threads, bench_malloc)
        info.update(balancer=balancer_name, mode=mode, balancer_options=dict(options))
        return StepBench(
            device=device,
            model=model,
            balancer=balancer,
            step=step,
            x=x.to(device),
            targets={k: v.to(device) for k, v in targets.items()},
            extra_info=info,
            before=params_snapshot(model),
        )

    return build
