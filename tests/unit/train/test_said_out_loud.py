"""What a run says out loud besides its tables: the summary line, a validation set too small
to decide, a batch larger than the training set, an overfit; printed by ``moola train`` and
recorded in ``metrics.json`` (``summary``, ``warnings``, ``batch_size_used``)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from moola.cli import main
from moola.train import Trainer
from tests.helpers.configs import tiny_config

TINY = [
    "--n-windows",
    "64",
    "--window",
    "24",
    "--set",
    'model={"hidden_size": 8, "projection_dim": 8}',
    "--eval-every",
    "0",
    "--threads",
    "1",
    "--no-progress",
]


def test_the_run_says_its_summary_small_data_and_clamped_batch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """64 windows: 51 train, 13 validation. --batch-size 100000 was recorded as 100000 and
    used as 51 without a word; nothing warned of the 13 windows; no summary line."""
    out = tmp_path / "run"
    assert main(["train", *TINY, "--steps", "4", "--batch-size", "100000", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "batch 51 (--batch-size 100000 is more than the training windows)" in captured.err
    assert "warning: --batch-size 100000 is more than the 51 training windows" in captured.err
    assert "warning: the validation set has 13 windows, too few" in captured.err
    summary = re.search(r"^summary: (.*)$", captured.out, re.MULTILINE)
    assert summary is not None
    assert re.fullmatch(
        r"[0-4] of 4 heads learned.*\(final weights; best weights: .*\); "
        r"51 training / 13 validation windows; "
        r"median 95% interval ±\d+\.\d\dx the prior",
        summary.group(1),
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["summary"] == summary.group(1)
    assert metrics["config"]["batch_size"] == 100000 and metrics["batch_size_used"] == 51
    assert [w["kind"] for w in metrics["warnings"]] == ["small_data", "batch_size"]
    assert captured.err.count("warning: the validation set") == 1  # said once, at the split


def test_the_trainer_steps_with_the_batch_it_records() -> None:
    trainer = Trainer(tiny_config(steps=2, batch_size=100000))
    assert trainer.batch_size == 51 == len(trainer.batch_indices(0))
    assert trainer.fit().batch_size_used == 51


def test_a_large_enough_validation_set_and_batch_warn_of_nothing() -> None:
    """1024 windows of 24 bars: 205 validation windows, every head's interval ±15% or less."""
    trainer = Trainer(tiny_config(steps=1, n_windows=1024))
    assert len(trainer.data.val) == 205 and trainer.warnings == []


def test_the_end_prints_the_warnings_not_printed_yet_and_the_summary(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from moola.cli.train import _print_ending

    metrics = {
        "summary": "0 of 4 heads learned",
        "warnings": [
            {"kind": "small_data", "text": "said at the split"},
            {"kind": "overfit", "text": "overfit: try --patience"},
        ],
    }
    _print_ending(metrics, already={"said at the split"})
    captured = capsys.readouterr()
    assert captured.err == "moola train: warning: overfit: try --patience\n"
    assert captured.out == "summary: 0 of 4 heads learned\n"
