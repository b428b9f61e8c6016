"""Pretraining throughput (pytest-benchmark): windows per second of ``moola pretrain``'s step.

What is timed: one whole pretraining step as the loop runs it, for each objective: drawing
a batch of 64 stride-1 windows from the series store (a gather of rows), building its
targets (the masked objective's masks; the rule's labels, computed on the fly by
:func:`moola.data.labeling.label_windows`), and the train step (forward, losses, the
default trunknorm balancer's backward, clipping, AdamW) of the default JadeCompact with
its reconstruction head. Windows per second = 64 / the step's time (``extra_info``;
BENCHMARKS.md, "Pretraining"). The corpus is 20,000 bars of the synthetic market.

With ``--benchmark-disable`` (the ``tests`` session) each body runs once and the step is
checked: finite losses and every trained parameter moved.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import torch

from moola.train import TrainConfig, Trainer
from moola.train.objectives.pretrain import PRETRAIN_OBJECTIVES, PretrainObjective

from .conftest import assert_params_updated, base_extra_info, params_snapshot

BATCH = 64
CORPUS = "synthetic:20000"
ROUNDS = {"warmup_rounds": 3, "rounds": 30, "iterations": 1}


class PretrainStep:
    """One loop step of a built pretraining run: draw, targets, train step."""

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self.step = 0

    def __call__(self) -> Any:
        t = self.trainer
        x, targets = t.objective.batch(t.data.train, t.batch_indices(self.step), self.step)
        out = t.train_step(x, targets, self.step)
        self.step += 1
        return out


@pytest.fixture(params=PRETRAIN_OBJECTIVES)
def pretrain_step(
    request: pytest.FixtureRequest, bench_threads: int
) -> Iterator[tuple[str, PretrainStep]]:
    kind = request.param
    config = TrainConfig(
        data=CORPUS,
        batch_size=BATCH,
        threads=bench_threads,
        telemetry_every=0,
        eval_every=0,
        out_dir=None,
        progress=False,
    )
    yield kind, PretrainStep(Trainer(config, objective=PretrainObjective(kind, config)))


def test_pretrain_step(
    benchmark: Any, pretrain_step: tuple[str, PretrainStep], bench_malloc: str
) -> None:
    kind, step = pretrain_step
    trainer = step.trainer
    benchmark.group = f"pretrain-cpu-b{BATCH}"
    benchmark.name = f"pretrain[{kind}]"
    before = params_snapshot(trainer.model)
    out = benchmark.pedantic(step, **ROUNDS)
    assert bool(torch.isfinite(out.losses).all()) and len(out.losses) == len(trainer.tasks)
    if step.step:  # every trained parameter moved (the unused heads are not trained)
        assert_params_updated(trainer.model, before)
    info = base_extra_info(trainer.device, BATCH, torch.get_num_threads(), bench_malloc)
    median = benchmark.stats.stats.median if benchmark.stats is not None else None
    info.update(
        objective=kind,
        corpus=CORPUS,
        windows_per_second=BATCH / median if median else None,
    )
    benchmark.extra_info.update(info)
