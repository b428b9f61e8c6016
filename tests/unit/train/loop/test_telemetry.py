"""Gradient telemetry during training: it measures the step's own forward, and never moves
the trajectory (bit-identical losses and weights with it on and off)."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import pytest
import torch

from moola.tasks import make_tasks
from moola.train.loop.trainer import Trainer
from moola.train.run import run_training
from tests.helpers.configs import tiny_config


def run(steps: int = 20, **overrides) -> Trainer:
    trainer = Trainer(tiny_config(steps=steps, log_every=5, **overrides))
    trainer.fit()
    return trainer


def trajectory(trainer: Trainer) -> tuple:
    history = trainer.history
    params = [p.detach().clone() for p in trainer.model.parameters()]
    return history.losses, history.weights, history.validation, params


def same(a: tuple, b: tuple) -> bool:
    return a[:3] == b[:3] and all(torch.equal(x, y) for x, y in zip(a[3], b[3]))


@pytest.mark.parametrize("balancer", ["trunknorm", "famo"])
def test_telemetry_on_every_step_leaves_the_run_bit_identical(balancer: str) -> None:
    off = run(balancer=balancer, telemetry_every=0)
    on = run(balancer=balancer, telemetry_every=1)
    assert off.history.telemetry == [] and len(on.history.telemetry) == 20
    assert same(trajectory(off), trajectory(on))


def test_without_restoring_the_rng_the_check_sees_the_difference(monkeypatch) -> None:
    """The bit-identity test can fail: a measurement that keeps its dropout draws moves the run."""
    off = trajectory(run(telemetry_every=0))
    monkeypatch.setattr(
        "moola.train.loop.telemetry.same_randomness", lambda device: contextlib.nullcontext()
    )
    assert not same(off, trajectory(run(telemetry_every=1)))


def test_it_measures_the_steps_own_forward() -> None:
    """The default balancer sets exact trunk shares from the step's own forward on its refresh
    steps (step 0 is one): telemetry, measured on the same batch and dropout masks and weighted
    by the weights the step applied, must find the priorities."""
    trainer = run(steps=5, telemetry_every=5)
    (record,) = trainer.history.telemetry
    assert record["step"] == 0
    priorities = make_tasks().priorities().tolist()
    for name, priority in zip(trainer.tasks.names, priorities):
        assert record[name]["share"] == pytest.approx(priority, abs=1e-5)
        assert -1.0 <= record[name]["worst_cosine"] <= 1.0
        assert record[name]["trunk_grad_norm"] > 0


def test_metrics_json_and_plot_carry_telemetry(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    config = tiny_config(steps=10, log_every=5, telemetry_every=4, out_dir=str(tmp_path))
    outcome = run_training(config)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert [r["step"] for r in metrics["telemetry"]] == [0, 4, 8]
    names = make_tasks().names
    assert sum(metrics["telemetry"][1][n]["share"] for n in names) == pytest.approx(1)
    plot = outcome.written.plot
    assert plot is not None and plot.read_bytes()[:4] == b"\x89PNG"


def test_telemetry_survives_a_resume(tmp_path: Path) -> None:
    whole = run(steps=12, telemetry_every=3)
    half = Trainer(tiny_config(steps=12, log_every=5, telemetry_every=3))
    half.config.steps = 7  # stop mid-interval, after the measurement at step 6
    half.fit()
    half.save(tmp_path)
    resumed = Trainer.resume(tmp_path / "checkpoint.pt", steps=12)
    resumed.fit()
    assert resumed.history.telemetry == whole.history.telemetry


def test_tensorboard_scalars_read_back(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    trainer = run(steps=10, telemetry_every=5, eval_every=5, tensorboard_dir=str(tmp_path))
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    for name in trainer.tasks.names:
        for tag in (
            "train/loss",
            "train/weight",
            "validation/loss",
            "telemetry/share",
            "telemetry/worst_cosine",
            "telemetry/trunk_grad_norm",
        ):
            assert f"{tag}/{name}" in tags
    loss = events.Scalars("train/loss/countdown")
    assert [e.step for e in loss] == trainer.history.step
    assert [e.value for e in loss] == pytest.approx(trainer.history.losses["countdown"], rel=1e-6)
    share = events.Scalars("telemetry/share/type")
    assert [e.step for e in share] == [0, 5]
    assert [e.value for e in share] == pytest.approx(
        [r["type"]["share"] for r in trainer.history.telemetry], rel=1e-6
    )
    assert "validation/accuracy/type" in tags


def test_tensorboard_without_the_package_is_a_named_error(monkeypatch, tmp_path: Path) -> None:
    from moola.errors import ConfigError

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if not installed
    with pytest.raises(
        ConfigError,
        match=r"--tensorboard needs the tensorboard package: pip install 'moola\[tensorboard\]'",
    ):
        Trainer(tiny_config(steps=1, tensorboard_dir=str(tmp_path)))


def test_the_flags_set_the_fields() -> None:
    import argparse

    from moola.train.fields import add_train_flags, train_overrides

    parser = argparse.ArgumentParser()
    add_train_flags(parser)
    args = parser.parse_args(["--telemetry-every", "5", "--tensorboard", "tb"])
    overrides = train_overrides(args)
    assert overrides["telemetry_every"] == 5 and overrides["tensorboard_dir"] == "tb"
