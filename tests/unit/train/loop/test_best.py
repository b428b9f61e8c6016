"""Best weights: the documented criterion, best.pt (weights only), resume and --patience."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from moola.cli import main
from moola.data import FEATURE_NAMES
from moola.errors import ConfigError, MoolaError
from moola.rundir.best import load_best
from moola.rundir.layout import BEST_NAME
from moola.train import TrainConfig, Trainer
from moola.verdict import Evaluation
from tests.helpers.configs import tiny_config


def tiny(**overrides: Any) -> TrainConfig:
    return tiny_config(**{"steps": 24, "lr": 1e-2, "log_every": 4, "eval_every": 4, **overrides})


def mean_ratio(row: dict[str, float], baselines: dict[str, float]) -> float:
    return sum(row[t] / b for t, b in baselines.items()) / len(baselines)


def test_best_step_is_the_lowest_mean_loss_over_baseline_and_best_pt_holds_its_weights(
    tmp_path: Path,
) -> None:
    trainer = Trainer(tiny(out_dir=str(tmp_path)))
    result = trainer.fit()
    trainer.save(trainer.config.out_dir)
    # Independently: the argmin of the criterion over every validation row (eval grid + end).
    scores = {
        row["step"]: mean_ratio(row, trainer.data.prior_losses) for row in result.history.validation
    }
    assert [row["step"] for row in result.history.validation] == [4, 8, 12, 16, 20, 24]
    expected_step = min(scores, key=lambda s: (scores[s], s))
    assert result.best is not None and result.best.step == expected_step
    assert result.best.score == pytest.approx(scores[expected_step], rel=1e-6)

    document = load_best(tmp_path / BEST_NAME)  # torch.load(weights_only=True) inside
    assert document["step"] == expected_step
    assert document["feature_names"] == list(FEATURE_NAMES)
    assert document["config"]["steps"] == 24 and document["model_config"]["hidden_size"] == 8
    # The same run stopped at the best step has exactly these weights (training is deterministic).
    replay = Trainer(tiny(steps=expected_step))
    replay.fit()
    for name, tensor in replay.model.state_dict().items():
        assert torch.equal(document["model"][name], tensor), name

    metrics = result.to_metrics()
    best = metrics["best"]
    assert set(best) == {"step", "criterion", "score", "tasks"} and best["step"] == expected_step
    for task, row in best["tasks"].items():
        assert set(row) == {"loss", "learned", "why", "metrics"}
        assert row["loss"] == result.best.evaluation.losses[task]
        assert isinstance(row["learned"], bool) and row["why"]
    json.dumps(metrics)  # serialisable


def test_resume_tracks_the_same_best_as_a_straight_run(tmp_path: Path) -> None:
    straight = Trainer(tiny(steps=23, eval_every=5))
    straight_best = straight.fit().best
    interrupted = Trainer(tiny(steps=13, eval_every=5, out_dir=str(tmp_path)))
    interrupted.fit()
    resumed = Trainer.resume(interrupted.save(tmp_path), steps=23)
    resumed_best = resumed.fit().best
    assert straight_best is not None and resumed_best is not None
    assert (resumed_best.step, resumed_best.score) == (straight_best.step, straight_best.score)
    for name, tensor in straight_best.weights.items():
        assert torch.equal(resumed_best.weights[name], tensor), name


def test_patience_stops_after_n_evaluations_without_improvement(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    trainer = Trainer(tiny(steps=40, eval_every=2, log_every=3, patience=2))
    frozen = trainer.evaluate()
    # Every evaluation scores the same: step 2 is the best, steps 4 and 6 do not improve.
    monkeypatch.setattr(trainer, "evaluate", lambda: Evaluation(frozen.losses, frozen.metrics))
    result = trainer.fit()
    assert result.stopped_early and trainer.step == 6 and result.best is not None
    assert result.best.step == 2
    assert result.history.step == [3, 6]
    assert result.to_metrics()["stopped_early"] is True


def test_patience_needs_evaluations_and_is_off_by_default() -> None:
    assert TrainConfig().patience == 0
    with pytest.raises(ConfigError, match="patience needs evaluations"):
        tiny(patience=2, eval_every=0)
    with pytest.raises(ConfigError, match="patience must be >= 0"):
        tiny(patience=-1)


def test_load_best_rejects_other_files(tmp_path: Path) -> None:
    with pytest.raises(MoolaError, match="no best weights"):
        load_best(tmp_path)
    torch.save({"format_version": 99}, tmp_path / BEST_NAME)
    with pytest.raises(MoolaError, match=r"not a moola best\.pt"):
        load_best(tmp_path)


def test_cli_patience_flag_and_best_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    args = ["train", "--steps", "8", "--log-every", "2", "--eval-every", "4", "--patience", "5"]
    assert main([*args, "--out", str(out), "--no-progress", "--threads", "1"]) == 0
    table = capsys.readouterr().out
    assert "best weights (best.pt): step" in table
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["patience"] == 5
    assert metrics["best"]["step"] in (4, 8)
    assert (out / BEST_NAME).exists()
    for task in metrics["tasks"].values():
        assert isinstance(task["learned"], bool) and isinstance(task["why"], str)
