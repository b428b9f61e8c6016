"""The one entry point for a run (``moola.train.run.run_training``): ``moola train``, every
sweep run and ``moola.train(...)`` go through it, so folds, resume and the files written are
the same whichever way a run is started."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import moola
from moola.data.signal_free import SignalFreeConfig, generate_signal_free
from moola.errors import ConfigError
from moola.rundir.claim import OutDirError, claim_out_dir
from moola.train import FoldsResult, TrainResult
from moola.train.run import AUTO, run_training
from tests.helpers.configs import tiny_config


def test_the_python_api_runs_walk_forward_folds() -> None:
    """``moola.train(folds=2)`` trains and judges two folds (before, it trained one split)."""
    windows = generate_signal_free(SignalFreeConfig(n_bars=2400, seed=0))
    result = moola.train(tiny_config(steps=10, eval_every=5), windows=windows, folds=2)
    assert isinstance(result, FoldsResult)
    assert [f["fold"] for f in result.doc["per_fold"]] == [1, 2]
    assert set(result.verdict) == {"type", "pointers", "binary", "countdown"}
    assert result.learned is False  # signal-free data: nothing learned, pooled


def test_the_python_api_and_the_cli_write_the_same_run(tmp_path: Path) -> None:
    """One entry point: the same config through ``moola.train`` and ``moola train`` gives
    the same metrics.json, apart from the folder and the wall time."""
    from moola.cli import main

    api, cli = tmp_path / "api", tmp_path / "cli"
    result = moola.train(tiny_config(steps=6, log_every=3, out_dir=str(api)))
    assert isinstance(result, TrainResult)
    argv = ["train", "--steps", "6", "--log-every", "3", "--n-windows", "64", "--window", "24"]
    argv += ["--batch-size", "8", "--threads", "1", "--eval-every", "0", "--no-progress"]
    argv += ["--set", 'model={"hidden_size": 8, "projection_dim": 8}', "--out", str(cli)]
    assert main(argv) == 0

    def comparable(folder: Path) -> dict[str, object]:
        metrics = json.loads((folder / "metrics.json").read_text())
        metrics["config"].pop("out_dir")
        metrics["config"].pop("progress")
        metrics.pop("timing")
        return metrics

    assert comparable(api) == comparable(cli)
    assert (api / "checkpoint.pt").is_file() and (cli / "checkpoint.pt").is_file()


def test_the_folder_is_claimed_before_any_data_is_built(tmp_path: Path) -> None:
    """A busy folder is refused before training: the data source here does not exist, so a
    run that built its data first would fail on the data instead of the folder."""
    out = tmp_path / "busy"
    with claim_out_dir(out, "another run"), pytest.raises(OutDirError, match="in use"):
        run_training(tiny_config(steps=1, out_dir=str(out), data=str(tmp_path / "none.parquet")))


def test_folds_do_not_resume() -> None:
    with pytest.raises(ConfigError, match="--folds trains every fold afresh"):
        run_training({"folds": 2}, resume="somewhere")


def test_auto_resume_continues_a_killed_run_and_ignores_another_configs_checkpoint(
    tmp_path: Path,
) -> None:
    out = tmp_path / "run"
    run_training(tiny_config(steps=4, log_every=2, out_dir=str(out)))
    longer = run_training(tiny_config(steps=8, log_every=2, out_dir=str(out)), resume=AUTO)
    assert longer.resumed_at == 4
    other = run_training(tiny_config(steps=8, log_every=2, lr=1e-2, out_dir=str(out)), resume=AUTO)
    assert other.resumed_at is None  # another lr: a fresh run, not a continued one
