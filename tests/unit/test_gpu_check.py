"""``scripts/gpu-check``, the one call a GPU session makes, checked on the CPU.

Without CUDA it must exit 0 with one line before doing anything; its driver must carry on
past a failing stage and name it; its rows must compute the ratios the targets use.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "gpu-check"


def load_script() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("gpu_check", str(SCRIPT))
    spec = importlib.util.spec_from_loader("gpu_check", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


gpu_check = load_script()


def test_without_cuda_it_prints_one_line_and_exits_0_before_any_stage(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "OUT": str(out), "CUDA_VISIBLE_DEVICES": ""}  # no CUDA, even on a GPU
    done = subprocess.run(
        [sys.executable, str(SCRIPT)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,  # a hang guard, not a timing assertion
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [gpu_check.NO_CUDA_LINE]
    assert not out.exists()  # it stopped before the first stage wrote anything


def test_the_script_is_executable_and_its_boxes_fit_in_eight_minutes() -> None:
    assert os.access(SCRIPT, os.X_OK)
    boxes = sum(seconds for _, seconds in gpu_check.STAGES)
    assert boxes <= gpu_check.TOTAL_BUDGET_S <= 8 * 60 - 20  # start-up of the call left over


def test_a_failing_stage_does_not_stop_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = []

    def fake_stage(name: str, out: Path, timeout: float, dry_run: bool, results: Any) -> Any:
        ran.append(name)
        if name == "bench":
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        if name == "train-graph":
            return {"rc": 2}
        return {"rc": 0}

    monkeypatch.setattr(gpu_check, "run_stage", fake_stage)
    monkeypatch.setenv("OUT", str(tmp_path / "out"))
    assert gpu_check.main(["--dry-run", "--work", str(tmp_path / "work")]) == 1
    assert ran == [name for name, _ in gpu_check.STAGES]
    summary = json.loads((tmp_path / "work" / "summary.json").read_text())
    assert summary["failed"] == ["bench", "train-graph"]
    assert "| bench | FAILED (rc 1) |" in (tmp_path / "out" / "summary.md").read_text()
    lines = capsys.readouterr().out.splitlines()
    assert "gpu-check: bench: FAILED (rc 1)" in lines[2] and "illegal memory access" in lines[2]
    assert lines[-1].startswith("gpu-check: FAILED: bench, train-graph")


def test_a_stage_past_its_box_is_interrupted_and_reported(tmp_path: Path) -> None:
    cmd = [sys.executable, "-c", "import time; print('started', flush=True); time.sleep(60)"]
    result = gpu_check.run_command(cmd, tmp_path / "log", 2.0, dict(os.environ))
    assert result["timed_out"] and result["rc"] != 0
    assert gpu_check.status_of(result) == "TIMED OUT"
    assert "started" in (tmp_path / "log").read_text()


def test_unknown_stages_are_refused() -> None:
    with pytest.raises(SystemExit):
        gpu_check.parse_args(["--stages", "env,benchmarks"])
    assert gpu_check.parse_args(["--stages", "rows,env"]).stages == ["env", "rows"]


def bench(device: str, mode: str, balancer: str, median_ms: float, **extra: Any) -> dict:
    """A pytest-benchmark record (seconds) as test_train_step.py writes it."""
    info = {"device": device, "mode": mode, "batch": 32, "balancer": balancer, **extra}
    stats = {"median": median_ms / 1e3, "min": 0.9 * median_ms / 1e3}
    stats.update(mean=1.1 * median_ms / 1e3, rounds=100)
    return {"extra_info": info, "stats": stats}


def test_rows_give_the_ratios_and_the_target_verdicts(tmp_path: Path) -> None:
    records = [
        bench("cuda", "eager", "static", 2.0),
        bench("cuda", "eager", "trunknorm", 2.4),  # 1.2x static: meets 1.25x
        bench("cuda", "eager", "legacy-reference", 4.0),
        bench("cuda", "graph", "static", 0.6),
        bench("cuda", "graph", "trunknorm", 0.8),  # 0.2x the loop, 0.8 ms, but 1.33x static
        bench("cuda", "graph", "trunknorm", 2.1, step_kind="refresh"),
    ]
    path = tmp_path / "bench.json"
    path.write_text(json.dumps({"benchmarks": records}))
    loaded = gpu_check.load_benchmarks(path)
    table, figures = gpu_check.benchmark_rows(loaded)

    graph = figures["cuda-graph-b32-trunknorm"]
    assert graph["x_loop_median"] == pytest.approx(0.2)
    assert graph["x_static_same_mode_median"] == pytest.approx(0.8 / 0.6)
    assert graph["x_static_eager_median"] == pytest.approx(0.4)
    assert figures["cuda-eager-b32-trunknorm"]["x_static_same_mode_median"] == pytest.approx(1.2)
    row = next(line for line in table if "graph | 32 | **trunknorm**" in line)
    assert "| 0.800 |" in row and "| 1.33 |" in row and "| 0.20 |" in row

    targets = gpu_check.target_rows(figures, "cuda")
    verdicts = {line.split(" | ")[0]: line for line in targets[2:]}
    assert verdicts["| default `--graph` step ≤ 0.25 × seed-style eager loop"].count("yes") == 2
    assert verdicts["| default `--graph` step ≤ 1.0 ms"].count("yes") == 2  # mean 0.88 ms
    assert verdicts["| default ≤ 1.25 × `static`, both `--graph`"].count("**no**") == 2
    assert verdicts["| default ≤ 1.25 × `static`, both eager"].count("yes") == 2
    assert any("refresh" in line for line in gpu_check.cost_rows(loaded))


def test_rows_without_benchmarks_say_so_and_fail(tmp_path: Path) -> None:
    result = gpu_check.stage_rows(tmp_path, {"train-eager": {"rc": 2}})
    assert result["rc"] == 1
    text = (tmp_path / "gpu-rows.md").read_text()
    assert "bench-cuda.json is missing" in text
    assert "| train-eager | FAILED (rc 2) |" in text


def metrics(losses: list[float]) -> dict[str, Any]:
    """A metrics.json as moola train writes it, cut down to what gpu-check reads."""
    tasks = {
        "type": {"learned": True, "final": 0.9},
        "binary": {"learned": False, "final": 0.3},
    }
    return {
        "config": {"batch_size": 32, "balancer": "trunknorm"},
        "history": {"step": [10, 20, 200], "type": losses, "binary": [0.5, 0.4, 0.3]},
        "tasks": tasks,
        "timing": {"fit_seconds": 12.5},
    }


def test_rows_read_the_training_runs_and_compare_their_curves(tmp_path: Path) -> None:
    for name, losses in (("train-eager", [1.0, 0.8, 0.5]), ("train-graph", [1.0, 0.8, 0.6])):
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(json.dumps(metrics(losses)))
    gpu_check.stage_rows(tmp_path, {})  # an earlier call's runs: read from their folders
    text = (tmp_path / "gpu-rows.md").read_text()
    assert "| train-eager | ok | 200 | 32 | 12.5 | type | type 0.9, binary 0.3 |" in text
    assert "difference 0 up to step 100, 0.2 over the whole run" in text


def test_out_receives_at_most_eight_plainly_named_files(tmp_path: Path) -> None:
    """A device call brings back at most 8 files from $OUT, 2 folders down, plain names."""
    work, out = tmp_path / "work", tmp_path / "out"
    for name in ("summary.md", "gpu-rows.md", "pytest-gpu.xml", "bench-cuda.json", "env.txt"):
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(name)
    for name in gpu_check.TRAIN_FLAGS:
        (work / name).mkdir()
        (work / name / "metrics.json").write_text("{}")
        (work / name / "checkpoint.pt").write_bytes(b"weights")
        (work / f"{name}.log").write_text(f"log of {name}")
    gpu_check.pack(work, out)
    files = sorted(p for p in out.rglob("*") if p.is_file())
    assert len(files) <= gpu_check.MAX_OUT_FILES
    assert all(p.parent == out and gpu_check.OUT_NAME.match(p.name) for p in files)
    assert "log of train-graph" in (out / "train.log").read_text()
    with tarfile.open(out / gpu_check.ARCHIVE) as archive:
        names = archive.getnames()
    assert "train-bf16/metrics.json" in names and "env.txt" in names
    assert not any(n.endswith(".pt") for n in names)
