"""Trainer behaviour: divergence handling, atomic checkpoints, config errors."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from moola.atomic import WriteError
from moola.errors import ConfigError, MoolaError, TrainingDivergedError
from moola.rundir.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from moola.train import TrainConfig, Trainer
from tests.helpers.configs import tiny_config


def tiny(**overrides: Any) -> TrainConfig:
    return tiny_config(**{"steps": 12, "log_every": 4, **overrides})


def test_history_has_one_row_per_log_interval_and_finite_losses() -> None:
    result = Trainer(tiny(steps=10)).fit()
    assert result.history.step == [4, 8, 10]
    for name in ("type", "pointers", "binary", "countdown"):
        assert len(result.history.losses[name]) == 3
        assert all(math.isfinite(v) for v in result.history.losses[name])


def test_non_finite_loss_stops_training_naming_task_and_step(tmp_path: Path) -> None:
    trainer = Trainer(tiny(out_dir=str(tmp_path)))
    original_step = trainer.train_step

    def poisoned(x, targets, step):  # type: ignore[no-untyped-def]
        if step == 6:  # the 7th step: break the countdown head only
            with torch.no_grad():
                trainer.model.expansion_countdown_head[1].bias.fill_(float("nan"))
        return original_step(x, targets, step)

    trainer.train_step = poisoned  # type: ignore[method-assign]
    with pytest.raises(
        TrainingDivergedError, match=r"non-finite loss for task 'countdown' at step 7.*Remedy"
    ) as info:
        trainer.fit()
    assert "lower the learning rate" in str(info.value)
    with pytest.raises(MoolaError, match="non-finite"):
        trainer.save(trainer.config.out_dir)
    assert not (tmp_path / CHECKPOINT_NAME).exists()


def test_checkpoint_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / CHECKPOINT_NAME
    trainer = Trainer(tiny(steps=1))
    trainer.fit()
    save_checkpoint(trainer.state_dict(), path)
    trainer.step = 2

    def crash(obj, handle, *args, **kwargs):  # type: ignore[no-untyped-def]
        handle.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(WriteError, match=rf"could not write {path}: disk full"):
        save_checkpoint(trainer.state_dict(), path)
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1  # the old checkpoint survived intact
    assert [p.name for p in tmp_path.iterdir()] == [CHECKPOINT_NAME]  # no temp file left


def test_missing_or_corrupt_checkpoint_gives_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MoolaError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "nope.pt")
    bad = tmp_path / CHECKPOINT_NAME
    bad.write_bytes(b"garbage")
    with pytest.raises(MoolaError, match="is not a moola checkpoint"):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"balancer": "nope"}, "unknown balancer 'nope'; valid balancers are: famo, gradnorm"),
        ({"steps": 0}, "steps must be >= 1"),
        ({"lr": -1.0}, "lr must be > 0"),
        ({"val_fraction": 1.5}, "val_fraction"),
        ({"countdown_units": "minutes"}, "countdown_units"),
        ({"device": "tpu"}, "device"),
        ({"grad_clip": 0.0}, "grad_clip"),
    ],
)
def test_bad_config_is_rejected_with_a_clear_error(
    overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        tiny(**overrides)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only error")
def test_cuda_requests_without_cuda_fail_clearly() -> None:
    with pytest.raises(ConfigError, match="CUDA is not available"):
        tiny(device="cuda")
    with pytest.raises(ConfigError, match="--graph needs a CUDA device"):
        Trainer(tiny(graph=True))


def test_unknown_config_keys_are_rejected() -> None:
    with pytest.raises(ConfigError, match="unknown config key"):
        TrainConfig.from_dict({"stepz": 3})


def test_batch_order_is_a_seeded_permutation_per_epoch() -> None:
    trainer = Trainer(tiny())
    n, bs = trainer.data.x_train.shape[0], trainer.batch_size
    per_epoch = n // bs
    epoch = torch.cat([trainer.batch_indices(s) for s in range(per_epoch)])
    assert len(set(epoch.tolist())) == per_epoch * bs  # no repeats within an epoch
    assert not torch.equal(trainer.batch_indices(0), trainer.batch_indices(per_epoch))


def test_the_trainer_draws_the_batches_of_the_batch_function_with_one_permutation_an_epoch() -> (
    None
):
    """The trainer keeps each epoch's permutation (a permutation of millions of rows costs
    seconds); its batches are still the pure function's, in any order of steps (a resume)."""
    from moola.train.loop import trainer as module

    trainer = Trainer(tiny())
    n, bs, seed = len(trainer.data.train), trainer.batch_size, trainer.config.seed
    per_epoch = n // bs
    made: list[int] = []
    real = module.epoch_order

    def counted(n_train: int, seed_: int, epoch: int) -> torch.Tensor:
        made.append(epoch)
        return real(n_train, seed_, epoch)

    module.epoch_order = counted  # type: ignore[assignment]
    try:
        steps = [*range(3 * per_epoch), 5, per_epoch + 1]
        for step in steps:
            want = real(n, seed, step // per_epoch)[(step % per_epoch) * bs :][:bs]
            assert torch.equal(trainer.batch_indices(step), want)
    finally:
        module.epoch_order = real  # type: ignore[assignment]
    assert made == [0, 1, 2, 0, 1]  # once per epoch, again only when the steps go back
