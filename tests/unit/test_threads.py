"""Fix of issue 19: with no --threads, training uses the cores the load leaves free, and
re-checks at every log interval (torch's default spins on a busy machine: 10x slower)."""

from __future__ import annotations

import pytest
import torch

import moola.threads as threads
from moola.threads import AutoThreads, choose_threads
from moola.train import Trainer
from moola.train.run import Plan, Quiet, run_training
from tests.helpers.configs import tiny_config


@pytest.mark.parametrize(
    ("cores", "load", "own", "cap", "expected"),
    [
        (2, 0.1, 0, None, 2),  # idle 2-core machine: both cores (torch's default, the fastest)
        (2, 3.7, 0, None, 1),  # busy: one thread
        (2, 1.0, 0, None, 1),  # one other job: one core left
        (2, None, 0, None, 2),  # no load average (Windows): torch's default
        (2, 2.0, 2, None, 2),  # our own 2 threads are the load: keep them
        (2, 3.0, 2, None, 1),  # our 2 + one other job: drop to 1
        (2, 1.2, 1, None, 2),  # at 1 thread, the other job left: back to 2
        (16, 0.0, 0, 8, 8),  # never above torch's own default
        (1, 0.0, 0, None, 1),
    ],
)
def test_choose_threads(
    cores: int, load: float | None, own: int, cap: int | None, expected: int
) -> None:
    assert choose_threads(cores, load, own=own, cap=cap) == expected


def test_a_run_without_threads_follows_the_load(monkeypatch: pytest.MonkeyPatch) -> None:
    before = torch.get_num_threads()
    monkeypatch.setattr(threads, "cores", lambda: 2)
    monkeypatch.setattr(threads, "TORCH_DEFAULT_THREADS", 2)
    loads = iter([3.5] + [0.2] * 100)  # busy at the start, then the other job ends
    monkeypatch.setattr(threads, "load_average", lambda: next(loads))
    at_start: list[tuple[int, int]] = []

    class AtStart(Quiet):
        def started(self, plan: Plan) -> None:
            auto = plan.trainer.auto_threads if plan.trainer is not None else None
            assert auto is not None
            at_start.append((auto.threads, torch.get_num_threads()))

    try:
        outcome = run_training(
            tiny_config(steps=20, threads=None, log_every=10), reporter=AtStart()
        )
        assert at_start == [(1, 1)]
        trainer = outcome.trainer
        assert trainer is not None and trainer.auto_threads is not None
        assert trainer.auto_threads.threads == 2 and torch.get_num_threads() == 2
        assert outcome.metrics["timing"]["threads_at_end"] == 2
    finally:
        torch.set_num_threads(before)


def test_threads_given_turn_it_off() -> None:
    trainer = Trainer(tiny_config(steps=1, threads=1))
    assert trainer.auto_threads is None and torch.get_num_threads() == 1


def test_auto_threads_sets_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    before = torch.get_num_threads()
    monkeypatch.setattr(threads, "cores", lambda: 2)
    monkeypatch.setattr(threads, "TORCH_DEFAULT_THREADS", 2)
    monkeypatch.setattr(threads, "load_average", lambda: 0.0)
    try:
        assert AutoThreads().threads == 2 == torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
