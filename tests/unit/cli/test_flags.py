"""Every flag is used as printed: a value the run would not use is refused in one line (it
was accepted, recorded in metrics.json or the header, and ignored)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from moola.cli import main
from moola.data import SyntheticConfig, generate_synthetic, save_parquet
from moola.train import TrainConfig
from moola.train import folds as folds_module

pytest.importorskip("pyarrow")
TINY = ["--steps", "1", "--window", "24", "--eval-every", "0", "--threads", "1", "--no-progress"]


def one_line(capsys: pytest.CaptureFixture[str], command: str, *needles: str) -> None:
    err = capsys.readouterr().err
    assert err.startswith(f"moola {command}: error:") and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, err


@pytest.fixture
def windows_file(tmp_path: Path) -> Path:
    path = tmp_path / "w.parquet"
    save_parquet(generate_synthetic(SyntheticConfig(n_windows=40, window=24, seed=1)), path)
    return path


@pytest.mark.parametrize("flag", [["--n-windows", "50"], ["--data-seed", "3"]])
def test_the_synthetic_markets_settings_with_a_file_are_refused(
    flag: list[str], windows_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """metrics.json recorded n_windows 50 for a run on a 40-window file."""
    out = tmp_path / "run"
    argv = ["train", "--data", str(windows_file), *flag, *TINY, "--out", str(out)]
    assert main(argv) == 2
    one_line(capsys, "train", f"{flag[0]} sets the synthetic market", "no synthetic part")
    assert not (out / "metrics.json").exists()


def test_the_synthetic_markets_settings_with_pooled_synthetic_data_are_used(
    windows_file: Path, tmp_path: Path
) -> None:
    from moola.train.fields import check_given

    check_given({"data": f"synthetic|{windows_file}", "n_windows": 50})  # no error
    check_given({"n_windows": 50})  # the default data is synthetic


@pytest.mark.parametrize(
    ("flag", "why"),
    [
        (["--checkpoint-every", "5"], "writes no checkpoint"),
        (["--telemetry-every", "5"], "record no telemetry"),
    ],
)
def test_settings_folds_do_not_use_are_refused(
    flag: list[str], why: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--checkpoint-every with --folds failed inside the first fold with "set out_dir
    (--out)" although --out was given; --telemetry-every was measured and dropped."""
    argv = ["train", "--folds", "2", *flag, *TINY, "--out", str(tmp_path / "run")]
    assert main(argv) == 2
    one_line(capsys, "train", f"{flag[0]} does not apply to --folds", why)


def test_each_fold_writes_its_own_tensorboard_run_and_no_telemetry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every fold's trainer wrote into the one --tensorboard folder, steps overlapping."""
    seen: list[TrainConfig] = []

    class Stop(Exception):
        pass

    def trainer(config: TrainConfig, **_: Any) -> None:
        seen.append(config)
        raise Stop

    monkeypatch.setattr(folds_module, "Trainer", trainer)
    config = TrainConfig(
        steps=1, window=24, n_windows=64, tensorboard_dir=str(tmp_path / "tb"), progress=False
    )
    windows = generate_synthetic(SyntheticConfig(n_windows=64, window=24))
    for fold in (1, 2):
        with pytest.raises(Stop):
            folds_module.score_fold(
                fold, windows, list(range(40)), list(range(40, 50)), config, None
            )  # type: ignore[arg-type]
    assert [c.tensorboard_dir for c in seen] == [
        str(tmp_path / "tb" / "fold1"),
        str(tmp_path / "tb" / "fold2"),
    ]
    assert all(c.telemetry_every == 0 and c.out_dir is None for c in seen)


def test_predict_refuses_a_stride_for_labelled_windows(
    run_dir: Path, windows_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--stride was accepted and ignored: labelled windows are predicted as they were cut."""
    argv = [
        "predict",
        str(run_dir),
        "--data",
        str(windows_file),
        "--out",
        str(tmp_path / "p.parquet"),
    ]
    assert main([*argv, "--stride", "7"]) == 2
    one_line(capsys, "predict", "--stride cuts a raw bar series", "labelled windows")
    assert not (tmp_path / "p.parquet").exists()


def test_predict_refuses_plot_windows_without_a_plot(
    run_dir: Path, windows_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "predict",
        str(run_dir),
        "--data",
        str(windows_file),
        "--out",
        str(tmp_path / "p.parquet"),
    ]
    assert main([*argv, "--plot-windows", "2"]) == 2
    one_line(capsys, "predict", "--plot-windows sets how many windows --plot draws")


def test_sweep_refuses_workers_for_the_inline_executor(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--workers 4 --executor inline ran one run at a time, silently."""
    argv = ["sweep", "--executor", "inline", "--workers", "4", "--steps", "1"]
    assert main([*argv, "--out", str(tmp_path / "sweep")]) == 2
    one_line(capsys, "sweep", "--workers is for --executor pool or ray")
    assert not (tmp_path / "sweep" / "sweep.json").exists()
