"""A run that failed twice is held back on the next rerun, until ``--retry-failed``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from moola.cli import main
from moola.sweep.runner import MAX_FAILURES, failure_count
from tests.unit.sweep.test_runs import TINY_FLAGS, sweep, tiny_grid

BAD = "synthetic__lr-1e+20__static__seed0"
GOOD = "synthetic__lr-0.001__static__seed0"


def test_a_run_that_failed_twice_is_held_back_until_retry_failed(tmp_path: Path) -> None:
    # lr 1e20 without clipping diverges at step 2, on every attempt.
    grid = tiny_grid(seeds=(0,), lr=(1e-3, 1e20), grad_clip=(None,))
    for attempt in range(1, MAX_FAILURES + 1):
        summary, _ = sweep(grid, tmp_path)
        assert list(summary.failed) == [BAD] and not summary.held_back
        assert failure_count(tmp_path / BAD) == attempt
    summary, outcomes = sweep(grid, tmp_path)
    assert outcomes == [] and summary.held_back == [BAD] and not summary.ok
    assert summary.skipped == [GOOD]
    assert failure_count(tmp_path / BAD) == MAX_FAILURES  # not run, not counted

    from moola.sweep import run_sweep
    from moola.sweep.executors import InlineExecutor

    summary = run_sweep(grid.expand(tmp_path), tmp_path, InlineExecutor(), retry_failed=True)
    assert list(summary.failed) == [BAD] and not summary.held_back
    error = json.loads((tmp_path / BAD / "error.json").read_text())
    assert error["failures"] == MAX_FAILURES + 1 and error["type"] == "TrainingDivergedError"


def test_cli_retry_failed_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flags = ["sweep", "--executor", "inline", "--no-progress", "--out", str(tmp_path)]
    flags += [*TINY_FLAGS, "--set", "lr=1e20", "--set", "grad_clip=null", "--balancers", "static"]
    flags += ["--seeds", "0"]
    assert main(flags) == 1
    assert main(flags) == 1
    capsys.readouterr()
    assert main(flags) == 1
    err = capsys.readouterr().err
    assert "not retried" in err and "--retry-failed" in err
    assert failure_count(tmp_path / "synthetic__static__seed0") == 2
    assert main([*flags, "--retry-failed"]) == 1
    assert failure_count(tmp_path / "synthetic__static__seed0") == 3
