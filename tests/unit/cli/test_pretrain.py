"""``moola pretrain`` on the command line, and every bad input of issue 28 as a named one-line
error with exit status 2 that leaves nothing half written."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch

from moola.cli import main
from moola.rundir.pretrained import load_pretrained

TINY = [
    "--window", "24", "--steps", "3", "--batch-size", "8", "--threads", "1",
    "--eval-every", "0", "--no-progress", "--set", 'model={"hidden_size": 8, "projection_dim": 8}',
]  # fmt: skip
TRAIN = ["--steps", "2", "--n-windows", "40", "--window", "24", "--threads", "1", "--no-progress",
         "--eval-every", "0", "--set", 'model={"hidden_size": 8, "projection_dim": 8}']  # fmt: skip


def written(folder: Path) -> list[str]:
    """What a failed command left: run files (the folder's lock is the claim, not a result)."""
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.iterdir() if p.suffix in (".pt", ".json", ".png"))


def fails(args: list[str], capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err  # one line, no traceback
    for needle in needles:
        assert needle in err, err
    return err


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "pre"
    export = out.parent / "export.pt"
    code = main(
        ["pretrain", "--data", "synthetic:1200:3", "--objective", "both", *TINY,
         "--out", str(out), "--export", str(export)]
    )  # fmt: skip
    assert code == 0
    return out


def test_pretrain_writes_the_run_folder_and_the_export(pretrained: Path) -> None:
    assert written(pretrained) == [
        "best.pt",
        "checkpoint.pt",
        "loss_curves.png",
        "metrics.json",
        "pretrained.pt",
    ]
    assert (pretrained.parent / "export.pt").read_bytes() == (
        pretrained / "pretrained.pt"
    ).read_bytes()
    metrics = json.loads((pretrained / "metrics.json").read_text())
    assert len(metrics["tasks"]) == 5 and metrics["history"]["step"][-1] == 3
    assert load_pretrained(pretrained)["recipe"]["objective"] == "both"


def test_the_progress_shows_windows_per_second() -> None:
    from moola.cli.pretrain import _Reporter

    shown: list[dict[str, float]] = []
    reporter = _Reporter(None, None)  # type: ignore[arg-type]
    reporter.update = lambda step, row: shown.append(row)
    reporter.windows_per_step = 64
    reporter.start = (0.0, 10)
    import moola.cli.pretrain as module

    clock = module.time.perf_counter
    module.time.perf_counter = lambda: 2.0  # type: ignore[assignment]
    try:
        reporter.progress(30, {"reconstruction": 0.2})
    finally:
        module.time.perf_counter = clock  # type: ignore[assignment]
    assert shown == [{"windows/s": 20 * 64 / 2.0, "reconstruction": 0.2}]


@pytest.mark.parametrize(
    ("source", "needle"),
    [
        ("synthetic:20", "has 20 bars, fewer than one 24-bar window"),
        ("synthetic:50", "leaves 25 training and 0 validation windows of 24 bars"),
        ("short.csv", "has 10 bars, fewer than one 24-bar window"),
        ("empty.csv", "the file is empty"),
        ("header.csv", "has 0 bars, fewer than one 24-bar window"),
        ("nan.csv", "has a NaN or infinite price"),
        ("missing.csv", "does not exist"),
    ],
)
def test_a_bad_corpus_is_a_named_error_and_writes_nothing(
    source: str, needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = "\n".join(f"{100 + i},{101 + i},{99 + i},{100.5 + i}" for i in range(10))
    (tmp_path / "short.csv").write_text("open,high,low,close\n" + rows + "\n")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("open,high,low,close\n")
    (tmp_path / "nan.csv").write_text("open,high,low,close\n" + "nan,nan,nan,nan\n" * 40)
    data = source if source.startswith("synthetic") else str(tmp_path / source)
    out = tmp_path / "out"
    fails(
        ["pretrain", "--data", data, *TINY, "--out", str(out)],
        capsys,
        "moola pretrain: error:",
        needle,
    )
    assert written(out) == []


def test_weights_that_do_not_fit_are_named(
    pretrained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ft"
    fails(["train", *TRAIN, "--init", str(pretrained), "--features", "original", "--out", str(out)],
          capsys, "moola train: error: --init", "features: 16", "13")  # fmt: skip
    fails(["train", *TRAIN[:-1], 'model={"hidden_size": 16}', "--init", str(pretrained), "--out", str(out)],
          capsys, "hidden_size: 8 in the checkpoint, 16 in this run")  # fmt: skip
    assert written(out) == []
    assert main(["train", *TRAIN, "--init", str(pretrained), "--out", str(out)]) == 0
    capsys.readouterr()
    assert json.loads((out / "metrics.json").read_text())["init"]["kind"] == "pretrain"


def test_a_train_checkpoint_where_pretrained_weights_are_expected_and_the_reverse(
    pretrained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    assert main(["train", *TRAIN, "--out", str(run)]) == 0
    capsys.readouterr()
    out = tmp_path / "out"
    fails(["train", *TRAIN, "--init", str(run / "checkpoint.pt"), "--out", str(out)], capsys,
          "resumable checkpoint, not weights to start from")  # fmt: skip
    fails(["pretrain", "--resume", str(run)], capsys,
          "is a moola train run (objective 'supervised'), not a pretraining run")  # fmt: skip
    fails(["train", "--resume", str(pretrained / "pretrained.pt")], capsys,
          "holds pretrained weights (moola pretrain's output), not a run's checkpoint")  # fmt: skip
    fails(["train", "--resume", str(pretrained)], capsys,
          "trained on the 'pretrain:both' objective, not 'supervised'")  # fmt: skip
    fails(["predict", str(pretrained), "--data", "synthetic", "--out", str(tmp_path / "p.parquet")],
          capsys, "is from a pretraining run (objective 'pretrain:both'), not a trained model")  # fmt: skip
    fails(["pretrain", "--resume", str(pretrained), "--objective", "masked"], capsys,
          "was pretrained with --objective both")  # fmt: skip
    assert written(out) == [] and not (tmp_path / "p.parquet").exists()


def test_init_with_resume_is_refused(pretrained: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("train", "pretrain"):
        fails([command, "--resume", str(pretrained), "--init", "pretrained"], capsys,
              "--init starts a new run from weights and --resume continues a run")  # fmt: skip


def test_weights_that_would_run_code_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    class Payload:
        def __reduce__(self) -> tuple[Any, ...]:
            return (os.system, ("echo pwned > " + str(tmp_path / "ran"),))

    evil = tmp_path / "evil.pt"
    torch.save({"kind": "moola-pretrained", "model": {"lstm.weight_ih_l0": Payload()}}, evil)
    out = tmp_path / "out"
    for command in (["train", *TRAIN], ["pretrain", "--data", "synthetic:1200", *TINY]):
        fails([*command, "--init", str(evil), "--out", str(out)], capsys,
              f"refusing to load {evil}: it asks to import")  # fmt: skip
    assert not (tmp_path / "ran").exists() and written(out) == []
