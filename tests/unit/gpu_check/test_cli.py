"""``scripts/gpu-check`` and ``tests.gpu_check.cli``, the one call a GPU session makes, on the CPU.

Without CUDA it must exit 0 with one line before doing anything; its driver must carry on
past a failing stage and name it; a new stage is one more line in the table it is given.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.gpu_check import cli
from tests.gpu_check.runner import TOTAL_BUDGET_S, Context, Result, Stage
from tests.gpu_check.stages import STAGES

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "gpu-check"


def test_without_cuda_it_prints_one_line_and_exits_0_before_any_stage(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "OUT": str(out), "CUDA_VISIBLE_DEVICES": ""}  # no CUDA, even on a GPU
    env["PYTHONPATH"] = str(SCRIPT.parents[1] / "src")  # as the device runs it, from elsewhere
    done = subprocess.run(
        [sys.executable, str(SCRIPT)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,  # a hang guard, not a timing assertion
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [cli.NO_CUDA_LINE]
    assert not out.exists()  # it stopped before the first stage wrote anything


def test_the_script_is_executable_and_its_boxes_fit_in_eight_minutes() -> None:
    assert os.access(SCRIPT, os.X_OK)
    boxes = sum(stage.box_s for stage in STAGES)
    assert boxes <= TOTAL_BUDGET_S <= 8 * 60 - 20  # start-up of the call left over


def test_the_script_is_only_an_entry_point() -> None:
    """The code lives in the package; the script puts the root on the path and calls main."""
    tree = ast.parse(SCRIPT.read_text(encoding="utf-8"))
    body = tree.body[1:] if ast.get_docstring(tree) else tree.body
    assert len(body) <= 5
    assert not any(isinstance(node, (ast.FunctionDef, ast.ClassDef)) for node in ast.walk(tree))
    imports = [node for node in body if isinstance(node, ast.ImportFrom)]
    assert any(node.module == "tests.gpu_check.cli" for node in imports)


def fake_table(ran: list[str], outcome: dict[str, Any]) -> tuple[Stage, ...]:
    """The real stage names and boxes, with stages that only record that they ran."""

    def fake(ctx: Context) -> Result:
        ran.append(ctx.name)
        if isinstance(outcome.get(ctx.name), Exception):
            raise outcome[ctx.name]
        return outcome.get(ctx.name, {"rc": 0})

    return tuple(Stage(stage.name, stage.box_s, fake) for stage in STAGES)


def test_a_failing_stage_does_not_stop_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ran: list[str] = []
    outcome = {
        "bench": RuntimeError("CUDA error: an illegal memory access was encountered"),
        "train-graph": {"rc": 2},
    }
    monkeypatch.setenv("OUT", str(tmp_path / "out"))
    table = fake_table(ran, outcome)
    assert cli.main(["--dry-run", "--work", str(tmp_path / "work")], table) == 1
    assert ran == [stage.name for stage in STAGES]
    summary = json.loads((tmp_path / "work" / "summary.json").read_text())
    assert summary["failed"] == ["bench", "train-graph"]
    assert "| bench | FAILED (rc 1) |" in (tmp_path / "out" / "summary.md").read_text()
    lines = capsys.readouterr().out.splitlines()
    assert "gpu-check: bench: FAILED (rc 1)" in lines[2] and "illegal memory access" in lines[2]
    assert lines[-1].startswith("gpu-check: FAILED: bench, train-graph")


def test_unknown_stages_are_refused() -> None:
    with pytest.raises(SystemExit):
        cli.parse_args(["--stages", "env,benchmarks"])
    assert cli.parse_args(["--stages", "rows,env"]).stages == ["env", "rows"]


def test_a_new_stage_is_one_more_line_in_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a later stage (pretraining throughput) needs: --stages knows it, main runs it in
    table order, with its box, and the summary lists it."""
    seen: list[Context] = []

    def extra(ctx: Context) -> Result:
        seen.append(ctx)
        (ctx.work / "extra.txt").write_text("ran")
        return {"rc": 0, "figure": 1.5}

    table = (*STAGES[:1], Stage("extra", 30.0, extra), *STAGES[1:])
    monkeypatch.setenv("OUT", str(tmp_path / "out"))
    assert cli.parse_args(["--stages", "extra"], table).stages == ["extra"]
    assert cli.main(["--dry-run", "--stages", "extra", "--work", str(tmp_path)], table) == 0
    assert [ctx.name for ctx in seen] == ["extra"] and seen[0].dry_run
    assert 0 < seen[0].timeout <= 30.0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["stages"]["extra"]["figure"] == 1.5 and summary["failed"] == []


def test_a_full_run_starts_clean_and_a_subset_keeps_the_work_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUT", str(tmp_path / "out"))
    work = tmp_path / "work"
    work.mkdir()
    (work / "earlier.txt").write_text("an earlier call's file")
    table = fake_table([], {})
    cli.main(["--dry-run", "--stages", "rows", "--work", str(work)], table)
    assert (work / "earlier.txt").is_file()
    cli.main(["--dry-run", "--work", str(work)], table)
    assert not (work / "earlier.txt").exists()


def test_without_torch_it_exits_2_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # ``import torch`` raises ImportError
    monkeypatch.setenv("OUT", str(tmp_path / "out"))
    assert cli.main(["--work", str(tmp_path / "work")], fake_table([], {})) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("gpu-check: error: torch cannot be imported (")
    assert not (tmp_path / "work").exists() and not (tmp_path / "out").exists()


def test_a_failed_packing_fails_the_run_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "out"
    blocker.write_text("a file where $OUT's folder should be")
    monkeypatch.setenv("OUT", str(blocker))
    work = tmp_path / "work"
    assert cli.main(["--dry-run", "--work", str(work)], fake_table([], {})) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2].startswith(f"gpu-check: packing into {blocker} failed: FileExistsError")
    assert lines[-1].startswith("gpu-check: FAILED: pack in ")
    assert (work / "summary.md").read_text().startswith("# gpu-check: all stages ok\n")
