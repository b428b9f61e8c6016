"""Pretraining's objectives through the one loop: their batches, their verdict, exact resume,
and the exported ``pretrained.pt``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from moola.data.labeling import LabelRule, label_series
from moola.data.sources import read_bars
from moola.errors import ConfigError
from moola.models.pretrain import RECONSTRUCTION
from moola.rundir.pretrained import load_pretrained
from moola.tasks import make_tasks
from moola.train import TrainConfig, Trainer
from moola.train.objectives.masking import window_masks
from moola.train.objectives.pretrain import PretrainObjective
from moola.train.run import AUTO, run_training

K = 40
DATA = "synthetic:3000:1"


def pretrain_config(**overrides: Any) -> TrainConfig:
    values: dict[str, Any] = dict(
        data=DATA,
        window=K,
        steps=20,
        batch_size=16,
        lr=3e-3,
        model={"hidden_size": 12, "projection_dim": 8},
        threads=1,
        log_every=5,
        eval_every=0,
        telemetry_every=0,
        out_dir=None,
        progress=False,
    )
    return TrainConfig(**{**values, **overrides})


def test_rule_batches_are_moola_labels_rule_on_every_window() -> None:
    """The weak labels of a dense window are exactly ``moola label --stride 1``'s for that
    window, and its targets the supervised objective's (the same tasks build them)."""
    config = pretrain_config()
    trainer = Trainer(config, objective=PretrainObjective("rule", config))
    part = trainer.data.train
    idx = torch.tensor([0, 17, 1000, len(part) - 1])
    x, targets = trainer.objective.batch(part, idx, step=0)
    starts = part.starts_of(idx)
    labelled = label_series(read_bars(DATA, window=K), LabelRule(window=K, stride=1))
    rows = starts  # one series: the store's global start is the bar in the series
    expected = make_tasks().build_targets(
        torch.from_numpy(labelled.label[rows]),
        torch.from_numpy(labelled.expansion_start[rows]),
        torch.from_numpy(labelled.expansion_end[rows]),
        K,
    )
    assert set(targets) == set(expected)
    for name, value in expected.items():
        assert torch.equal(targets[name], value), name
    assert torch.equal(x, part.store.gather(starts))  # the rule sees every bar


def test_masked_batches_hide_the_masks_bars_and_keep_the_truth_in_the_target() -> None:
    config = pretrain_config(seed=5)
    trainer = Trainer(config, objective=PretrainObjective("masked", config))
    part = trainer.data.train
    idx = torch.tensor([3, 400, 2])
    x, targets = trainer.objective.batch(part, idx, step=9)
    assert list(targets) == [RECONSTRUCTION]
    truth = part.store.gather(part.starts_of(idx))
    mask = torch.from_numpy(window_masks(5, 9, part.starts_of(idx), K))
    assert torch.equal(targets[RECONSTRUCTION][..., :-1], truth)
    assert torch.equal(targets[RECONSTRUCTION][..., -1].bool(), mask)
    assert (x[mask] == 0).all() and torch.equal(x[~mask], truth[~mask])


def test_the_masked_objective_learns_the_hidden_bars_beyond_its_prior() -> None:
    config = pretrain_config(steps=80, batch_size=32)
    result = Trainer(config, objective=PretrainObjective("masked", config)).fit()
    head = result.task_summary()[RECONSTRUCTION]
    assert head["learned"], head["why"]
    assert head["metrics"]["mae"] < head["metrics"]["baseline_mae"]


def test_both_trains_five_heads_on_one_trunk_and_resumes_bit_for_bit(tmp_path: Path) -> None:
    """A run stopped at step 10 and resumed (as after a kill: run_training with AUTO) ends
    where the uninterrupted run ends: same history, weights and export; masks and labels
    are functions of the step, not of state."""
    whole_dir, split_dir = tmp_path / "whole", tmp_path / "split"
    config = pretrain_config(out_dir=str(whole_dir))
    whole = run_training(config, objective=PretrainObjective("both", config))
    assert set(whole.metrics["tasks"]) == {
        "type",
        "pointers",
        "binary",
        "countdown",
        RECONSTRUCTION,
    }
    first = pretrain_config(out_dir=str(split_dir), steps=10)
    run_training(first, objective=PretrainObjective("both", first))
    resumed = run_training(config.to_dict() | {"out_dir": str(split_dir)}, resume=AUTO,
                           objective=PretrainObjective("both", config))  # fmt: skip
    assert resumed.resumed_at == 10
    assert resumed.metrics["history"] == whole.metrics["history"]
    assert resumed.metrics["weights"] == whole.metrics["weights"]
    a, b = load_pretrained(whole_dir), load_pretrained(split_dir)
    assert a["model"].keys() == b["model"].keys()
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name


def test_the_export_holds_the_trunk_the_trained_heads_and_the_recipe(tmp_path: Path) -> None:
    config = pretrain_config(out_dir=str(tmp_path), steps=5, data=f"{DATA}|synthetic:900:2")
    run_training(config, objective=PretrainObjective("masked", config))
    raw = torch.load(tmp_path / "pretrained.pt", weights_only=True)  # no code runs
    doc = load_pretrained(tmp_path)
    assert raw.keys() == doc.keys()
    assert {k.split(".")[0] for k in doc["model"]} == {"lstm", "reconstruction_head"}
    assert doc["heads"] == [RECONSTRUCTION]
    assert doc["model_config"]["hidden_size"] == 12 and doc["model_config"]["n_features"] == 16
    assert len(doc["feature_names"]) == 16
    recipe = doc["recipe"]
    assert recipe["command"] == "moola pretrain" and recipe["objective"] == "masked"
    assert [s["source"] for s in recipe["sources"]] == [DATA, "synthetic:900:2"]
    assert [s["bars"] for s in recipe["sources"]] == [3000, 900]
    assert recipe["steps"] == 5 and recipe["seed"] == 0 and recipe["inputs"] == "series"
    assert recipe["config"]["data"] == f"{DATA}|synthetic:900:2"
    assert isinstance(recipe["moola_version"], str)


def test_pretraining_objectives_are_named_and_take_bars_not_windows() -> None:
    config = pretrain_config()
    with pytest.raises(ConfigError, match="unknown pretraining objective 'mae'"):
        PretrainObjective("mae", config)
    objective = PretrainObjective("rule", config)
    with pytest.raises(ConfigError, match="not labelled windows"):
        objective.build_data(config, torch.device("cpu"), windows=object())  # type: ignore[arg-type]
    assert np.isfinite(list(Trainer(config, objective=objective).data.prior_losses.values())).all()


def test_both_is_balanced_like_any_multi_task_run() -> None:
    """The probe measures the five heads' trunk-gradient shares, and trunknorm gives each
    the share of its priority: 0.1/0.7/0.1/0.1 for JadeCompact's four, 1.0 for the
    reconstruction (half of the total 2.0) on a step that measures the trunk exactly."""
    config = pretrain_config(steps=1, telemetry_every=1, log_every=1)
    trainer = Trainer(config, objective=PretrainObjective("both", config))
    trainer.fit()
    record = trainer.history.telemetry[0]
    shares = {name: record[name]["share"] for name in trainer.tasks.names}
    expected = {"type": 0.05, "pointers": 0.35, "binary": 0.05, "countdown": 0.05}
    assert shares == pytest.approx({**expected, RECONSTRUCTION: 0.5}, abs=1e-4)
