"""The one assembly of a run: the builders give the trainer, diagnose and the benchmarks the
same parts, and assembling by hand reproduces the trainer bit for bit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from moola.cli import main
from moola.train import Trainer, build_run
from moola.train.objectives import SupervisedObjective
from moola.train.setup import build_balancer, build_step
from moola.train.step import EagerStep
from tests.helpers.configs import tiny_config


def test_the_trainer_trains_what_build_run_builds() -> None:
    config = tiny_config(steps=6, log_every=2)
    run = build_run(config)
    by_hand = Trainer(config, run=run).fit()
    assembled = Trainer(config).fit()
    assert by_hand.history.losses == assembled.history.losses
    assert by_hand.final.losses == assembled.final.losses


def test_builders_one_by_one_match_build_run() -> None:
    """The order build_run documents (seed, data, then model init) is the whole recipe."""
    from moola.seeding import seed_everything

    config = tiny_config(steps=1)
    run = build_run(config)
    seed_everything(config.seed, threads=config.threads)
    device = torch.device("cpu")
    objective = SupervisedObjective.from_config(config)
    tasks = objective.tasks
    data = objective.build_data(config, device)
    model = objective.build_model(config, data.n_features, device)
    balancer = build_balancer(config, tasks, device)
    step = build_step(config, model, tasks, balancer, device)
    assert isinstance(step, EagerStep) and step.optimizer is not None
    assert data.fingerprint == run.data.fingerprint
    assert data.prior_losses == run.data.prior_losses
    for a, b in zip(model.parameters(), run.model.parameters()):
        assert torch.equal(a, b)
    assert not model.check_finite  # build_data checked the whole data set once


def test_bad_model_sizes_are_a_named_error() -> None:
    from moola.errors import ConfigError

    with pytest.raises(
        ConfigError, match=r"unknown model setting.*hidden.*valid keys: hidden_size"
    ):
        build_run(tiny_config(steps=1, model={"hidden": 64}))


def test_metrics_units_come_from_the_task_set() -> None:
    trainer = Trainer(tiny_config(steps=2, log_every=1))
    metrics = trainer.fit().to_metrics()
    assert metrics["units"] == trainer.tasks.units()
    assert metrics["units"]["countdown"] == "bars (Huber δ=1)"
    assert metrics["units"]["pointers"] == "window fraction (Huber δ=0.08)"


def test_save_takes_its_folder_and_periodic_checkpoints_go_to_the_fit_folder(
    tmp_path: Path,
) -> None:
    trainer = Trainer(tiny_config(steps=4, log_every=2, checkpoint_every=2, out_dir=None))
    with pytest.raises(Exception, match="checkpoint_every needs a folder"):
        trainer.fit()
    trainer = Trainer(tiny_config(steps=4, log_every=2, checkpoint_every=2, out_dir=None))
    trainer.fit(checkpoint_dir=tmp_path / "staging")
    assert (tmp_path / "staging" / "checkpoint.pt").is_file()  # written at step 2
    assert trainer.save(tmp_path / "final") == tmp_path / "final" / "checkpoint.pt"


def test_diagnose_probes_the_first_training_batch_of_the_same_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--seed is the run's seed (as in train): the synthetic market stays at data_seed 0, so
    two seeds probe the same data set with different initialisations and batches."""
    args = ["diagnose", "--json", "--batch-size", "4", "--balancer", "static"]
    assert main([*args, "--seed", "0"]) == 0
    zero = json.loads(capsys.readouterr().out)
    assert main([*args, "--seed", "1"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert zero["data"] == one["data"] == "synthetic" and zero["checkpoint"] is None
    assert zero["tasks"]["type"]["loss"] != one["tasks"]["type"]["loss"]


def test_diagnose_checkpoint_uses_the_checkpoint_data_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    # a run whose data differs from diagnose's default: 48 windows of 30 bars
    train = ["train", "--steps", "2", "--eval-every", "0", "--no-progress", "--threads", "1"]
    assert main([*train, "--n-windows", "48", "--window", "30", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["diagnose", "--checkpoint", str(out), "--batch-size", "4"]) == 0
    said = capsys.readouterr().err
    assert f"moola diagnose: checkpoint {out} on data synthetic (its first training batch)" in said
    assert main(["diagnose", "--checkpoint", str(out), "--batch-size", "4", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["checkpoint"] == str(out)
    assert result["batch_size"] == 4


def test_the_embargo_setting_reaches_the_split() -> None:
    """``--embargo N`` keeps N more bars free between training and validation windows of a
    series: more windows are purged, and none of training ends within N bars of validation."""
    from moola.data import LabelRule, label_series
    from moola.data.signal_free import random_walk_series

    series = random_walk_series(1200, seed=3)
    windows = label_series(series, LabelRule(window=24, stride=4))
    device = torch.device("cpu")
    config = tiny_config(steps=1)
    objective = SupervisedObjective.from_config(config)
    plain = objective.build_data(config, device, windows=windows).split
    embargoed = objective.build_data(
        tiny_config(steps=1, embargo=40), device, windows=windows
    ).split
    assert embargoed.info.embargo == 40 and plain.info.embargo == 0
    assert embargoed.info.n_purged > plain.info.n_purged
    starts = windows.start_bar
    assert starts is not None
    last_train_end = starts[embargoed.train].max() + windows.window
    assert starts[embargoed.val].min() >= last_train_end + 40
