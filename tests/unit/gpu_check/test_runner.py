"""``tests.gpu_check.runner``: time boxes, process groups and the budget of the whole run."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from tests.gpu_check import runner
from tests.gpu_check.layout import ROOT
from tests.gpu_check.render import status_of
from tests.gpu_check.runner import Context, Result, Stage, passed, run_command, run_stages


def test_a_stage_past_its_box_is_interrupted_and_reported(tmp_path: Path) -> None:
    cmd = [sys.executable, "-c", "import time; print('started', flush=True); time.sleep(60)"]
    result = run_command(cmd, tmp_path / "log", 2.0, dict(os.environ))
    assert result["timed_out"] and result["rc"] != 0
    assert status_of(result) == "TIMED OUT"
    assert "started" in (tmp_path / "log").read_text()


def test_a_command_within_its_box_reports_its_exit_status_and_logs_its_command(
    tmp_path: Path,
) -> None:
    cmd = [sys.executable, "-c", "import os, sys; print(os.getcwd()); sys.exit(3)"]
    result = run_command(cmd, tmp_path / "log", 60.0, dict(os.environ))
    assert result["rc"] == 3 and not result["timed_out"]
    log = (tmp_path / "log").read_text().splitlines()
    assert log[0].startswith("$ ") and log[0].endswith("sys.exit(3)'")
    assert log[1] == str(ROOT)  # the stages run from the repository root


def test_the_children_find_the_working_trees_source_and_know_a_dry_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PYTHONPATH", "elsewhere")
    monkeypatch.delenv("MOOLA_GPU_DRY_RUN", raising=False)
    env = runner.child_env(dry_run=False)
    assert env["PYTHONPATH"] == str(ROOT / "src") + os.pathsep + "elsewhere"
    assert "MOOLA_GPU_DRY_RUN" not in env
    monkeypatch.delenv("PYTHONPATH")
    env = runner.child_env(dry_run=True)
    assert env["PYTHONPATH"] == str(ROOT / "src") and env["MOOLA_GPU_DRY_RUN"] == "1"


def test_passed_means_rc_0_in_time() -> None:
    assert passed({"rc": 0, "seconds": 1.0})
    assert not passed({"rc": 1})
    assert not passed({"rc": 0, "timed_out": True})
    assert not passed({"rc": None, "skipped": "out of time"})
    assert not passed({})


def test_stages_run_in_order_within_their_boxes_and_what_is_left(tmp_path: Path) -> None:
    seen: list[Context] = []

    def record(ctx: Context) -> Result:
        seen.append(ctx)
        return {"rc": 0, "order": len(ctx.results)}

    def broken(ctx: Context) -> Result:
        raise OSError("disk full")

    table = [Stage("a", 100.0, record), Stage("b", 20.0, broken), Stage("c", 400.0, record)]
    reported: list[str] = []
    deadline = time.monotonic() + 200.0
    results = run_stages(
        table, ["a", "b", "c"], tmp_path, True, deadline, lambda n, r: reported.append(n)
    )
    assert reported == ["a", "b", "c"] and list(results) == ["a", "b", "c"]
    assert results["b"]["rc"] == 1 and results["b"]["error"] == "OSError: disk full"
    assert "seconds" in results["b"]
    a, c = seen
    assert a.timeout == 100.0 - runner.GRACE_S  # its box, less the SIGINT grace
    assert 150.0 < c.timeout < 200.0 - runner.GRACE_S  # what is left, not its 400 s box
    assert (a.work, a.dry_run, a.name, c.name) == (tmp_path, True, "a", "c")
    assert results["c"]["order"] == 2  # it saw the earlier stages' results


def test_stages_past_the_budget_are_skipped_not_started(tmp_path: Path) -> None:
    def never(ctx: Context) -> Result:
        raise AssertionError("started past the budget")

    deadline = time.monotonic() + runner.MIN_LEFT_S - 1.0
    results = run_stages([Stage("late", 60.0, never)], ["late"], tmp_path, False, deadline, print)
    assert results == {"late": {"rc": None, "skipped": "out of time"}}
    assert status_of(results["late"]) == "SKIPPED (out of time)"
