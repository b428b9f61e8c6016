"""The resume guard: only the documented settings may change, and the data must be the same."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from moola.cli import main
from moola.data import SyntheticConfig, generate_synthetic, save_parquet
from moola.rundir.guard import RESUMABLE_SETTINGS, ResumeMismatchError
from moola.train import TrainConfig, Trainer
from tests.helpers.configs import tiny_config

BASE: dict[str, Any] = dict(steps=4, n_windows=48, log_every=2)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    trainer = Trainer(tiny_config(**BASE, out_dir=str(out)))
    trainer.fit()
    return trainer.save(trainer.config.out_dir)


#: One change per frozen setting: (setting, new value, its old value as printed).
FROZEN_CHANGES: list[tuple[str, Any, Any]] = [
    ("seed", 1, 0),
    ("batch_size", 4, 8),
    ("lr", 0.01, 3e-3),
    ("weight_decay", 0.1, 0.01),
    ("grad_clip", None, 1.0),
    ("balancer", "static", "trunknorm"),
    ("balancer_options", {"refresh_every": 5}, {}),
    ("countdown_units", "bars", "normalized"),
    ("priorities", {"type": 0.25, "pointers": 0.25, "binary": 0.25, "countdown": 0.25}, None),
    ("model", {"hidden_size": 16, "projection_dim": 8}, {"hidden_size": 8, "projection_dim": 8}),
    ("log_every", 3, 2),
    ("val_fraction", 0.3, 0.2),
    ("data_seed", 1, 0),
    ("n_windows", 64, 48),
    ("window", 32, 24),
    ("bf16", True, False),
    ("features", "candle,move,position", "all"),
    ("embargo", 10, 0),
    ("folds", 2, 0),
    ("stride", 5, 15),
    ("inputs", "window", "auto"),
    ("init", "pretrained", None),  # the weights a run started from
    ("freeze_trunk_steps", 5, 0),
]


@pytest.mark.parametrize(
    ("setting", "new", "old"), FROZEN_CHANGES, ids=[c[0] for c in FROZEN_CHANGES]
)
def test_resuming_with_a_frozen_setting_changed_is_refused_naming_it(
    setting: str, new: Any, old: Any, checkpoint: Path
) -> None:
    with pytest.raises(ResumeMismatchError) as info:
        Trainer.resume(checkpoint, **{setting: new})
    message = str(info.value)
    assert f"{setting}: {old!r} -> {new!r}" in message
    assert str(checkpoint) in message and "\n" not in message


def test_every_setting_is_either_frozen_or_documented_as_resumable() -> None:
    frozen = {setting for setting, _, _ in FROZEN_CHANGES}
    every = set(TrainConfig().to_dict())
    assert frozen | RESUMABLE_SETTINGS == every  # a new setting must be classified here
    assert not frozen & RESUMABLE_SETTINGS


def test_every_difference_is_named(checkpoint: Path) -> None:
    with pytest.raises(ResumeMismatchError, match=r"batch_size: 8 -> 4; seed: 0 -> 7\."):
        Trainer.resume(checkpoint, seed=7, batch_size=4)


def test_the_command_line_refuses_with_exit_code_2(
    checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "--resume", str(checkpoint), "--seed", "3", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "must not change on resume differ: seed: 0 -> 3." in err and err.count("\n") == 1


def test_the_safe_settings_may_change(checkpoint: Path, tmp_path: Path) -> None:
    trainer = Trainer.resume(
        checkpoint,
        steps=6,
        eval_every=3,
        checkpoint_every=5,
        out_dir=str(tmp_path),
        threads=2,
        progress=True,
        device="cpu",
        graph=False,
    )
    assert trainer.step == 4
    trainer.fit()
    assert trainer.step == 6 and trainer.history.step == [2, 4, 6]


def test_a_total_below_the_saved_step_is_refused(checkpoint: Path) -> None:
    with pytest.raises(ResumeMismatchError, match=r"to 3 steps: it is already at step 4"):
        Trainer.resume(checkpoint, steps=3)


def test_resuming_on_other_data_is_refused_but_moved_data_is_fine(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    market = SyntheticConfig(n_windows=40, window=24, seed=5)
    other_market = SyntheticConfig(n_windows=40, window=24, seed=6)
    first, same, other = (tmp_path / n for n in ("a.parquet", "moved.parquet", "b.parquet"))
    save_parquet(generate_synthetic(market), first)
    save_parquet(generate_synthetic(market), same)
    save_parquet(generate_synthetic(other_market), other)
    trainer = Trainer(tiny_config(**BASE, data=str(first), out_dir=str(tmp_path)))
    trainer.fit()
    checkpoint = trainer.save(trainer.config.out_dir)

    with pytest.raises(ResumeMismatchError, match=r"the data differs from the data it was trained"):
        Trainer.resume(checkpoint, data=str(other))
    assert Trainer.resume(checkpoint, data=str(same)).step == 4
