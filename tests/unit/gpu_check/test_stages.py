"""``tests.gpu_check.stages``: the stage table and what each stage runs and writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.gpu_check import stages
from tests.gpu_check.layout import TRAIN_FLAGS
from tests.gpu_check.runner import Context, Result
from tests.gpu_check.stages import STAGES, stage_rows


def context(work: Path, name: str = "rows", dry_run: bool = True, **results: Result) -> Context:
    return Context(name, work, 50.0, dry_run, results)


def test_the_table_names_each_stage_once_in_the_standard_order() -> None:
    names = [stage.name for stage in STAGES]
    assert names == ["env", "pytest", "bench", *TRAIN_FLAGS, "pretrain", "rows"]
    assert all(stage.box_s > 0 and callable(stage.run) for stage in STAGES)


def test_rows_without_benchmarks_say_so_and_fail(tmp_path: Path) -> None:
    result = stage_rows(context(tmp_path, **{"train-eager": {"rc": 2}}))
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
    stage_rows(context(tmp_path))  # an earlier call's runs: read from their folders
    text = (tmp_path / "gpu-rows.md").read_text()
    assert "| train-eager | ok | 200 | 32 | 12.5 | type | type 0.9, binary 0.3 |" in text
    assert "difference 0 up to step 100, 0.2 over the whole run" in text


def test_rows_with_benchmarks_pass_and_write_the_figures(tmp_path: Path) -> None:
    info = {"device": "cuda", "mode": "eager", "batch": 32, "balancer": "static"}
    stats = {"median": 0.002, "min": 0.0019, "mean": 0.0021, "rounds": 5}
    bench = {"benchmarks": [{"extra_info": info, "stats": stats}]}
    (tmp_path / "bench-cuda.json").write_text(json.dumps(bench))
    assert stage_rows(context(tmp_path)) == {"rc": 0, "figures": 1}
    written = json.loads((tmp_path / "figures.json").read_text())
    assert written["cuda-eager-b32-static"]["median_ms"] == pytest.approx(2.0)


class Recorder:
    """Stands in for run_command: records the command, succeeds without running it."""

    def __init__(self, write_metrics: bool) -> None:
        self.calls: list[tuple[list[str], Path, float, dict[str, str]]] = []
        self.write_metrics = write_metrics

    def __call__(self, cmd: list[str], log: Path, timeout: float, env: dict[str, str]) -> Result:
        self.calls.append((cmd, log, timeout, env))
        if self.write_metrics:
            out = Path(cmd[cmd.index("--out") + 1])
            out.mkdir()
            (out / "metrics.json").write_text(json.dumps(metrics([1.0, 0.8, 0.5])))
        return {"rc": 0, "timed_out": False, "seconds": 1.0}


def test_a_training_stage_runs_moola_train_with_its_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder(write_metrics=True)
    monkeypatch.setattr(stages, "run_command", recorder)
    (tmp_path / "train-graph").mkdir()
    (tmp_path / "train-graph" / "checkpoint.pt").write_bytes(b"an earlier run")
    result = stages.stage_train(context(tmp_path, "train-graph", dry_run=False))
    cmd, log, timeout, env = recorder.calls[0]
    assert cmd[1:5] == ["-m", "moola", "train", "--no-progress"]
    assert cmd[-3:] == ["--device", "cuda", "--graph"]
    assert log == tmp_path / "train-graph.log" and timeout == 50.0
    assert "MOOLA_GPU_DRY_RUN" not in env or env["MOOLA_GPU_DRY_RUN"] != "1"
    assert not (tmp_path / "train-graph" / "checkpoint.pt").exists()  # started afresh
    assert result["rc"] == 0 and result["steps"] == 200 and result["learned"]["type"]

    stages.stage_train(context(tmp_path, "train-bf16", dry_run=True))
    cmd = recorder.calls[1][0]
    assert cmd[cmd.index("--device") :] == [
        *["--device", "cpu", "--steps", "30", "--eval-every", "10", "--threads", "2", "--bf16"]
    ]


def test_a_training_run_without_metrics_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stages, "run_command", Recorder(write_metrics=False))
    result = stages.stage_train(context(tmp_path, "train-eager"))
    assert result["rc"] == 1 and result["error"].startswith("no ")
    assert result["error"].endswith("metrics.json")


def test_the_test_and_benchmark_stages_need_no_syrupy_and_keep_their_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder(write_metrics=False)
    monkeypatch.setattr(stages, "run_command", recorder)
    stages.stage_pytest(context(tmp_path, "pytest", dry_run=True))
    stages.stage_bench(context(tmp_path, "bench", dry_run=False))
    (tests, tests_log, _, env), (bench, bench_log, _, _) = recorder.calls
    for cmd in (tests, bench):
        assert cmd[1:7] == ["-m", "pytest", "-p", "no:cacheprovider", "-p", "no:syrupy"]
    assert env["MOOLA_GPU_DRY_RUN"] == "1"
    assert f"--junitxml={tmp_path / 'pytest-gpu.xml'}" in tests and "gpu" in tests
    assert tests_log == tmp_path / "pytest-gpu.log" and bench_log == tmp_path / "bench-cuda.log"
    assert bench[bench.index("-k") + 1] == "cuda"
    stages.stage_bench(context(tmp_path, "bench", dry_run=True))
    dry = recorder.calls[2][0]
    assert dry[dry.index("-k") + 1] == "cpu and b32"  # a dry run times the CPU at batch 32
    assert f"--benchmark-json={tmp_path / 'bench-cuda.json'}" in bench


def test_the_env_stage_writes_json_and_text(tmp_path: Path) -> None:
    result = stages.stage_env(context(tmp_path, "env", dry_run=True))
    info = json.loads((tmp_path / "env.json").read_text())
    assert info["dry_run"] is True and "torch" in info and "nvidia_smi" in info
    assert (tmp_path / "env.txt").read_text().startswith(f"python: {info['python']}\n")
    assert result["rc"] == 0 and result["device"] == info.get("device", "cpu (dry run)")


def test_the_pretrain_stage_runs_moola_pretrain_and_reports_windows_per_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []

    def fake(cmd: list[str], log: Path, timeout: float, env: dict[str, str]) -> Result:
        calls.append(cmd)
        out = Path(cmd[cmd.index("--out") + 1])
        out.mkdir()
        document = {
            "config": {"batch_size": 256},
            "history": {"step": [100, 200]},
            "tasks": {"reconstruction": {"learned": True}, "type": {"learned": False}},
            "timing": {"fit_seconds": 12.8},
        }
        (out / "metrics.json").write_text(json.dumps(document))
        return {"rc": 0, "timed_out": False, "seconds": 20.0}

    monkeypatch.setattr(stages, "run_command", fake)
    (tmp_path / "pretrain").mkdir()
    (tmp_path / "pretrain" / "checkpoint.pt").write_bytes(b"an earlier run")
    result = stages.stage_pretrain(context(tmp_path, "pretrain", dry_run=False))
    cmd = calls[0]
    assert cmd[1:4] == ["-m", "moola", "pretrain"]
    assert cmd[cmd.index("--device") + 1] == "cuda" and cmd.count("--data") == 1
    assert cmd[cmd.index("--data") + 1] == "synthetic:1000000"
    assert cmd[cmd.index("--objective") + 1] == "both"
    assert not (tmp_path / "pretrain" / "checkpoint.pt").exists()
    # 200 steps x 256 windows / 12.8 s = 4000 windows per second
    assert result["windows_per_second"] == pytest.approx(4000.0)
    assert result["note"] == "4000 windows/s (200 steps of 256, 12.8 s)"
    assert result["learned"] == {"reconstruction": True, "type": False}
    stages.stage_pretrain(context(tmp_path, "pretrain", dry_run=True))
    dry = calls[1]
    assert dry[dry.index("--device") + 1] == "cpu" and dry.count("--data") == 1
    assert dry[dry.index("--data") + 1] == "synthetic:20000"
