"""What gradient telemetry costs a training run (pytest-benchmark).

What is timed: ``Trainer.fit`` of the default model and balancer at batch 32 on the CPU,
``TELEMETRY_STEPS`` steps (one default telemetry interval, so exactly one measurement), with
telemetry at its default interval and off, in the same session. Each round builds a fresh
trainer outside the timing; the start and end evaluations are timed too but tiny (13
validation windows). The issue's target: default telemetry <= 1.05 x off (see BENCHMARKS.md).

Under ``--benchmark-disable`` (the ``tests`` session) each body runs once on a shorter run,
then checks that telemetry was recorded (or not) and that the losses are the same either way.
"""

from __future__ import annotations

from dataclasses import fields

import pytest

from moola.train import TrainConfig
from moola.train.loop.trainer import Trainer

from .conftest import SEED, benchmarks_disabled

DEFAULT_EVERY = next(f.default for f in fields(TrainConfig) if f.name == "telemetry_every")
TELEMETRY_STEPS = DEFAULT_EVERY
_losses: dict[str, dict[str, list[float]]] = {}


@pytest.mark.parametrize("telemetry", ["off", "default"])
def test_fit_with_and_without_telemetry(
    benchmark, bench_threads: int, bench_malloc: str, request, telemetry: str
) -> None:
    disabled = benchmarks_disabled(request.config)
    steps = 10 if disabled else TELEMETRY_STEPS
    every = 0 if telemetry == "off" else (steps if disabled else DEFAULT_EVERY)
    config = TrainConfig(
        n_windows=64,  # 51 training windows (batch 32), 13 validation: evaluations are cheap
        steps=steps,
        batch_size=32,
        telemetry_every=every,
        eval_every=0,
        seed=SEED,
        threads=bench_threads,
        out_dir=None,
        progress=False,
    )
    trainers: list[Trainer] = []

    def setup() -> tuple[tuple, dict]:
        trainers.append(Trainer(config))
        return (), {}

    benchmark.group = "telemetry-cpu-b32"
    benchmark.extra_info.update(
        telemetry_every=every, steps=steps, threads=bench_threads, malloc=bench_malloc
    )
    rounds = 1 if disabled else 7
    benchmark.pedantic(lambda: trainers[-1].fit(), setup=setup, rounds=rounds, warmup_rounds=1)
    history = trainers[-1].history
    assert len(history.telemetry) == (0 if telemetry == "off" else 1)
    _losses[telemetry] = history.losses
    if len(_losses) == 2:  # the second of the pair: the trajectory did not move
        assert _losses["off"] == _losses["default"]
