"""``--init``: a run starts from pretrained weights (the trunk and every head that fits), or
from a training run's best weights; what does not fit is a named error; the init is recorded
and frozen on resume."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch

from moola.rundir.checkpoint import CheckpointError
from moola.rundir.guard import ResumeMismatchError
from moola.rundir.pretrained import PretrainedError, load_pretrained
from moola.train import TrainConfig, Trainer
from moola.train.init import InitMismatchError
from moola.train.objectives.pretrain import PretrainObjective
from moola.train.run import run_training
from tests.helpers.configs import tiny_config

SIZES = {"hidden_size": 8, "projection_dim": 8}  # tiny_config's model


def pretrain(folder: Path, *, kind: str = "both", seed: int = 0, **overrides: Any) -> Path:
    values: dict[str, Any] = dict(
        data="synthetic:1500:4",
        window=24,
        steps=4,
        batch_size=16,
        model=SIZES,
        threads=1,
        eval_every=0,
        telemetry_every=0,
        out_dir=str(folder),
        progress=False,
        seed=seed,
    )
    config = TrainConfig(**{**values, **overrides})
    run_training(config, objective=PretrainObjective(kind, config))
    return folder


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pretrain(tmp_path_factory.mktemp("pretrained"))


def test_the_trunk_and_every_fitting_head_are_loaded(export: Path) -> None:
    doc = load_pretrained(export)
    trainer = Trainer(tiny_config(steps=2, init=str(export)))
    state = trainer.model.state_dict()
    for name, tensor in doc["model"].items():
        if not name.startswith("reconstruction_head"):
            assert torch.equal(state[name], tensor), name
    record = trainer.init_record
    assert record is not None and record["kind"] == "pretrain"
    assert record["loaded"] == [
        "lstm",
        "projection",
        "type_head",
        "pointer_head",
        "expansion_binary_head",
        "expansion_countdown_head",
    ]
    assert record["skipped"] == {"reconstruction_head": "not in this model"}
    assert record["recipe"]["objective"] == "both" and len(record["digest"]) == 64
    # loading draws nothing: what was not loaded, and the run's RNG, are a fresh run's
    fresh = Trainer(tiny_config(steps=2))
    assert torch.equal(trainer.model.log_sigma_type, fresh.model.log_sigma_type)
    assert torch.equal(trainer.rng["torch"], fresh.rng["torch"])
    assert not torch.equal(
        state["lstm.weight_ih_l0"], fresh.model.state_dict()["lstm.weight_ih_l0"]
    )


def test_heads_of_another_shape_keep_their_random_start(export: Path) -> None:
    trainer = Trainer(
        tiny_config(steps=2, init=str(export), model={"hidden_size": 8, "projection_dim": 4})
    )
    record = trainer.init_record
    assert record is not None
    assert record["loaded"] == ["lstm", "expansion_binary_head", "expansion_countdown_head"]
    for module in ("projection", "type_head", "pointer_head"):
        assert record["skipped"][module].startswith("shapes differ"), module


def test_other_features_or_trunk_sizes_are_a_named_error(export: Path) -> None:
    with pytest.raises(InitMismatchError, match=r"features: 16 \[.*\] in the checkpoint, 13"):
        Trainer(tiny_config(steps=2, init=str(export), features="original"))
    with pytest.raises(InitMismatchError, match="hidden_size: 8 in the checkpoint, 16 in this run"):
        Trainer(tiny_config(steps=2, init=str(export), model={"hidden_size": 16}))


def test_a_training_runs_best_weights_start_a_run_too(tmp_path: Path) -> None:
    run_training(tiny_config(steps=6, eval_every=3, out_dir=str(tmp_path / "run")))
    trainer = Trainer(tiny_config(steps=2, init=str(tmp_path / "run")))
    record = trainer.init_record
    assert record is not None and record["kind"] == "run" and record["path"].endswith("best.pt")
    assert record["recipe"]["command"] == "moola train" and record["skipped"] == {}
    best = torch.load(tmp_path / "run" / "best.pt", weights_only=True)["model"]
    assert torch.equal(trainer.model.state_dict()["type_head.1.weight"], best["type_head.1.weight"])
    with pytest.raises(PretrainedError, match="resumable checkpoint, not weights to start from"):
        Trainer(tiny_config(steps=2, init=str(tmp_path / "run" / "checkpoint.pt")))
    with pytest.raises(PretrainedError, match="no weights at"):
        Trainer(tiny_config(steps=2, init=str(tmp_path / "missing.pt")))


def test_a_file_that_would_run_code_is_refused(tmp_path: Path) -> None:
    class Payload:
        def __reduce__(self) -> tuple[Any, ...]:
            return (os.system, ("echo pwned > " + str(tmp_path / "ran"),))

    evil = tmp_path / "evil.pt"
    torch.save({"kind": "moola-pretrained", "model": Payload()}, evil)
    with pytest.raises(CheckpointError, match=r"refusing to load .* it asks to import"):
        Trainer(tiny_config(steps=2, init=str(evil)))
    assert not (tmp_path / "ran").exists()


def test_the_init_is_recorded_and_frozen_on_resume(tmp_path: Path) -> None:
    source = pretrain(tmp_path / "pre")
    out = tmp_path / "run"
    run_training(tiny_config(steps=3, init=str(source), out_dir=str(out)))
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["init"] == str(source)
    assert metrics["init"]["digest"] == load_pretrained_digest(source)
    assert metrics["init"]["recipe"]["sources"][0]["source"] == "synthetic:1500:4"
    # the same weights still there: the run continues, and keeps its record
    resumed = run_training({"steps": 4}, resume=out)
    assert resumed.metrics["init"] == metrics["init"]
    # other weights behind the same name: refused, naming the change
    pretrain(tmp_path / "pre", seed=1)
    with pytest.raises(ResumeMismatchError, match="the weights there changed since the run"):
        Trainer.resume(out, steps=5)
    with pytest.raises(ResumeMismatchError, match=r"init: .* -> 'pretrained'"):
        Trainer.resume(out, steps=5, init="pretrained")


def load_pretrained_digest(folder: Path) -> str:
    import hashlib

    return hashlib.sha256((folder / "pretrained.pt").read_bytes()).hexdigest()


def test_the_verdicts_initial_loss_is_the_untrained_models_also_under_init(export: Path) -> None:
    """A pretrained start is held to the reference a run from scratch has: "below its initial
    loss" means below the seeded *untrained* weights' loss (the ones --init replaced), not
    below the pretrained start's, which init["start"] records instead."""
    scratch = Trainer(tiny_config(steps=1)).fit()
    trainer = Trainer(tiny_config(steps=1, init=str(export)))
    fresh = Trainer(tiny_config(steps=1))
    for name, tensor in fresh.model.state_dict().items():
        assert torch.equal(trainer.initial_weights[name], tensor.cpu()), name
    result = trainer.fit()
    assert result.initial.losses == scratch.initial.losses
    start = result.init["start"] if result.init else None
    assert start is not None and set(start) == set(scratch.initial.losses)
    assert start != scratch.initial.losses  # the loaded weights predict otherwise
    summary = result.task_summary()
    assert {n: t["initial"] for n, t in summary.items()} == scratch.initial.losses
