"""Resuming a run end to end: ``--resume`` without ``--data`` uses the run's recorded data,
and a run resumed from a step on the ``--eval-every`` grid keeps that validation point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import moola
from moola.cli import main
from moola.data import SyntheticConfig, generate_synthetic, save_parquet
from moola.train import Trainer
from tests.helpers.configs import tiny_config

pytest.importorskip("pyarrow")


def test_resume_without_data_uses_the_recorded_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    save_parquet(generate_synthetic(SyntheticConfig(n_windows=40, seed=4)), tmp_path / "w.parquet")
    out = str(tmp_path / "run")
    common = ["--no-progress", "--threads", "1", "--eval-every", "2", "--out", out]
    assert main(["train", "--data", str(tmp_path / "w.parquet"), "--steps", "2", *common]) == 0
    assert main(["train", "--resume", out, "--steps", "4", *common]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["config"]["data"] == str(tmp_path / "w.parquet")
    assert metrics["history"]["step"][-1] == 4
    capsys.readouterr()
    assert main(["train", "--resume", out, "--steps", "6", "--data", "synthetic", *common]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"trained on --data {str(tmp_path / 'w.parquet')!r}" in err


def test_a_resume_from_a_grid_step_keeps_its_validation_point(tmp_path: Path) -> None:
    first = tiny_config(steps=10, eval_every=5, out_dir=str(tmp_path / "a"))
    moola.train(first)
    resumed = Trainer.resume(tmp_path / "a", steps=15).fit()
    straight = moola.train(tiny_config(steps=15, eval_every=5))
    steps = [v["step"] for v in resumed.history.validation]
    assert steps == [v["step"] for v in straight.history.validation] == [5, 10, 15]
    assert resumed.history.validation == straight.history.validation
    assert resumed.best is not None and resumed.best.step in steps


def test_an_early_stopped_resume_has_no_repeated_validation_point(tmp_path: Path) -> None:
    config = tiny_config(steps=40, eval_every=2, patience=1, lr=0.3, out_dir=str(tmp_path / "a"))
    result = moola.train(config)
    assert result.stopped_early
    resumed = Trainer.resume(tmp_path / "a", steps=40).fit()
    steps = [v["step"] for v in resumed.history.validation]
    assert steps == [v["step"] for v in result.history.validation]
