"""The pretrained weights moola ships: in the package, small, made from the synthetic market
only by the one documented command, and loadable by ``moola train --init pretrained``."""

from __future__ import annotations

from pathlib import Path

import torch

from moola.cli import main
from moola.models.jade_core import JadeCompact
from moola.rundir.pretrained import load_pretrained
from moola.train import TrainConfig, Trainer
from moola.train.init import SHIPPED_COMMAND, SHIPPED_FILE, SHIPPED_FLAGS, resolve_init

#: Issue 28: package data of at most 2 MB.
MAX_BYTES = 2 * 1024 * 1024


def test_the_shipped_weights_are_package_data_of_at_most_two_megabytes() -> None:
    assert SHIPPED_FILE.is_file(), SHIPPED_FILE
    assert SHIPPED_FILE.stat().st_size <= MAX_BYTES
    # where setuptools takes it from: src/moola/weights/*.pt (pyproject package-data)
    assert SHIPPED_FILE.parent.name == "weights"
    assert SHIPPED_FILE.parent.parent.name == "moola"


def test_the_shipped_weights_record_the_documented_command_and_only_synthetic_bars() -> None:
    doc = load_pretrained(SHIPPED_FILE)
    recipe = doc["recipe"]
    assert recipe["objective"] == SHIPPED_FLAGS["--objective"]
    assert recipe["steps"] == int(SHIPPED_FLAGS["--steps"])
    assert recipe["seed"] == int(SHIPPED_FLAGS["--seed"])
    sources = [s["source"] for s in recipe["sources"]]
    assert sources == [SHIPPED_FLAGS["--data"]]
    assert all(s.startswith("synthetic:") for s in sources)  # no third party's bars
    docs = (Path(__file__).parents[3] / "docs" / "pretraining.md").read_text()
    assert "moola " + " ".join(SHIPPED_COMMAND) in docs  # the command the docs show


def test_init_pretrained_loads_the_shipped_trunk_and_heads_into_a_default_run() -> None:
    init = resolve_init("pretrained")
    trainer = Trainer(
        TrainConfig(
            init="pretrained", steps=1, n_windows=64, threads=1, progress=False, out_dir=None
        )
    )
    assert isinstance(trainer.model, JadeCompact)
    record = trainer.init_record
    assert record is not None and record["skipped"] == {}  # the trunk and all four heads
    assert record["digest"] == init.digest and record["kind"] == "pretrain"
    state = trainer.model.state_dict()
    assert set(init.weights) <= set(state)
    for name, tensor in init.weights.items():
        assert torch.equal(state[name], tensor), name


def test_a_short_version_of_the_shipped_command_runs(tmp_path: Path) -> None:
    """The documented command with a tiny market and three steps: it runs and writes weights
    of the shipped file's shapes."""
    short = dict(SHIPPED_FLAGS)
    short.update(
        {
            "--data": "synthetic:3000",
            "--steps": "3",
            "--out": str(tmp_path / "run"),
            "--export": str(tmp_path / "pretrained.pt"),
        }
    )
    args = ["pretrain", *(x for kv in short.items() for x in kv), "--no-progress"]
    assert main(args) == 0
    made = load_pretrained(tmp_path / "pretrained.pt")
    shipped = load_pretrained(SHIPPED_FILE)
    assert made["recipe"]["objective"] == shipped["recipe"]["objective"]
    assert made["feature_names"] == shipped["feature_names"]
    assert {k: v.shape for k, v in made["model"].items()} == {
        k: v.shape for k, v in shipped["model"].items()
    }
