"""``tests.gpu_check.render``: every line gpu-check writes, on fixed inputs.

The expected strings are worked out by hand from the inputs (ratios, rounding, the order of
rows), not copied from the output.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.gpu_check import render
from tests.gpu_check.figures import Case, load_benchmarks


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
    loaded = load_benchmarks(path)
    table, figures = render.benchmark_rows(loaded)

    graph = figures["cuda-graph-b32-trunknorm"]
    assert graph["x_loop_median"] == pytest.approx(0.2)
    assert graph["x_static_same_mode_median"] == pytest.approx(0.8 / 0.6)
    assert graph["x_static_eager_median"] == pytest.approx(0.4)
    assert figures["cuda-eager-b32-trunknorm"]["x_static_same_mode_median"] == pytest.approx(1.2)
    row = next(line for line in table if "graph | 32 | **trunknorm**" in line)
    assert "| 0.800 |" in row and "| 1.33 |" in row and "| 0.20 |" in row

    targets = render.target_rows(figures, "cuda")
    verdicts = {line.split(" | ")[0]: line for line in targets[2:]}
    assert verdicts["| default `--graph` step ≤ 0.25 × seed-style eager loop"].count("yes") == 2
    assert verdicts["| default `--graph` step ≤ 1.0 ms"].count("yes") == 2  # mean 0.88 ms
    assert verdicts["| default ≤ 1.25 × `static`, both `--graph`"].count("**no**") == 2
    assert verdicts["| default ≤ 1.25 × `static`, both eager"].count("yes") == 2
    assert any("refresh" in line for line in render.cost_rows(loaded))


def record(
    mode: str, balancer: str, median: float, kind: str | None = None, device: str = "cpu"
) -> dict[str, Any]:
    """A loaded benchmark record (ms): min 0.1 below the median, mean 0.1 above, 10 rounds."""
    return {
        "device": device,
        "mode": mode,
        "batch": 32,
        "balancer": balancer,
        "kind": kind,
        "median": median,
        "min": median - 0.1,
        "mean": median + 0.1,
        "rounds": 10,
        "hardware": None,
    }


BENCH_HEADER = [
    "| device | mode | batch | balancer | median ms | min ms | mean ms | × static eager "
    "| × static same mode | × loop | mean × static eager | rounds |",
    "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
]


def test_the_benchmark_table_by_hand() -> None:
    records = [
        record("graph", "trunknorm", 1.5),  # no graph static: no same-mode ratio
        record("eager", "legacy-reference", 8.0),
        record("graph", "trunknorm", 4.0, kind="refresh"),  # a cost row: not in this table
        record("eager", "static", 2.0),
    ]
    table, figures = render.benchmark_rows(records)
    assert table == [
        *BENCH_HEADER,
        # eager first, static before the loop; 2/2, 2/2, 2/8, 2.1/2.1
        "| cpu | eager | 32 | static | 2.000 | 1.900 | 2.100 | 1.00 | 1.00 | 0.25 | 1.00 | 10 |",
        # 8/2, no mode, 8/8, 8.1/2.1 = 3.857
        "| cpu | — | 32 | legacy-style loop (seed code) | 8.000 | 7.900 | 8.100 | 4.00 | — "
        "| 1.00 | 3.86 | 10 |",
        # 1.5/2, no graph static, 1.5/8 = 0.1875, 1.6/2.1 = 0.762
        "| cpu | graph | 32 | **trunknorm** (default) | 1.500 | 1.400 | 1.600 | 0.75 | — "
        "| 0.19 | 0.76 | 10 |",
    ]
    assert set(figures) == {"cpu-eager-b32-static", "cpu-eager-b32-legacy-reference"} | {
        "cpu-graph-b32-trunknorm"
    }
    graph = figures["cpu-graph-b32-trunknorm"]
    assert graph["x_static_same_mode_median"] is None and graph["x_static_same_mode_mean"] is None
    assert graph["x_loop_median"] == pytest.approx(1.5 / 8.0)
    assert graph["x_loop_mean"] == pytest.approx(1.6 / 8.1)


def test_the_cost_table_by_hand() -> None:
    records = [
        record("graph", "trunknorm", 2.0, kind="refresh"),
        record("eager", "trunknorm", 1.0, kind="between"),
        record("eager", "static", 3.0),
    ]
    assert render.cost_rows(records) == [
        "| device | mode | trunknorm step kind (batch 32) | median ms | min ms | mean ms |",
        "|---|---|---|---:|---:|---:|",
        "| cpu | eager | between | 1.000 | 0.900 | 1.100 |",
        "| cpu | graph | refresh | 2.000 | 1.900 | 2.100 |",
    ]
    assert render.cost_rows([record("eager", "static", 3.0)]) == []


def test_the_targets_by_hand_with_missing_figures_as_dashes() -> None:
    figures = {
        "cuda-graph-b32-trunknorm": {
            "median_ms": 0.9,
            "mean_ms": 1.2,
            "x_loop_median": 0.2,
            "x_loop_mean": 0.3,
            "x_static_same_mode_median": 1.25,  # on the limit: met
            "x_static_same_mode_mean": None,
        }
    }
    header = [
        "| target (batch 32) | by median | met? | by mean | met? |",
        "|---|---:|---|---:|---|",
    ]
    assert render.target_rows(figures, "cuda") == [
        *header,
        "| default `--graph` step ≤ 0.25 × seed-style eager loop | 0.200 | yes | 0.300 | **no** |",
        "| default `--graph` step ≤ 1.0 ms | 0.900 | yes | 1.200 | **no** |",
        "| default ≤ 1.25 × `static`, both `--graph` | 1.250 | yes | — | — |",
        "| default ≤ 1.25 × `static`, both eager | — | — | — | — |",
    ]
    rows = render.target_rows(figures, "cpu")  # a dry run reads the cpu figures: none here
    assert all(line.endswith("| — | — | — | — |") for line in rows[2:]) and len(rows) == 6


def test_numbers_and_statuses() -> None:
    assert render.fmt(None) == "—"
    assert render.fmt(1.23456) == "1.23" and render.fmt(1.23456, 3) == "1.235"
    assert render.fmt(0.0) == "0.00"
    assert render.status_of({"rc": 0}) == "ok"
    assert render.status_of({"rc": 2}) == "FAILED (rc 2)"
    assert render.status_of({}) == "FAILED (rc None)"
    assert render.status_of({"rc": -2, "timed_out": True}) == "TIMED OUT"
    assert render.status_of({"rc": None, "skipped": "out of time"}) == "SKIPPED (out of time)"
    assert render.met(None, 1.0) == "—"
    assert render.met(1.0, 1.0) == "yes" and render.met(1.01, 1.0) == "**no**"


def test_the_line_each_stage_prints() -> None:
    failed = {"rc": 1, "error": "RuntimeError: boom", "seconds": 3.5}
    assert (
        render.stage_line("bench", failed)
        == "gpu-check: bench: FAILED (rc 1) (3.5 s): RuntimeError: boom"
    )
    assert render.stage_line("env", {"rc": 0}) == "gpu-check: env: ok (0 s)"


def test_the_summary_by_hand() -> None:
    results = {
        "env": {"rc": 0, "seconds": 1.0},
        "pytest": {"rc": 1, "seconds": 2.5, "error": "E"},
        "pretrain": {"rc": 0, "seconds": 9.0, "note": "4000 windows/s"},  # a stage's figure
    }
    assert render.summary_markdown(["pytest"], results) == (
        "# gpu-check: FAILED: pytest\n"
        "\n"
        "| stage | status | seconds | note |\n"
        "|---|---|---:|---|\n"
        "| env | ok | 1.0 |  |\n"
        "| pytest | FAILED (rc 1) | 2.5 | E |\n"
        "| pretrain | ok | 9.0 | 4000 windows/s |\n"
    )
    assert render.summary_markdown([], {}).startswith("# gpu-check: all stages ok\n")
    summary = render.summary(Path("/o"), True, 4.5, ["pytest"], results)
    assert summary == {
        "out": "/o",
        "dry_run": True,
        "seconds": 4.5,
        "failed": ["pytest"],
        "stages": results,
    }
    assert render.json_text({"a": [1]}) == '{\n  "a": [\n    1\n  ]\n}\n'


def test_the_last_lines_printed() -> None:
    written = [Path("/o/summary.md"), Path("/o/gpu-check.tar.gz")]
    assert render.final_line([], 12.3, Path("/o"), written) == (
        "gpu-check: all stages ok in 12.3 s; /o: summary.md, gpu-check.tar.gz"
    )
    assert render.final_line(["bench", "pack"], 1.0, Path("/o"), []) == (
        "gpu-check: FAILED: bench, pack in 1.0 s; /o: "
    )
    assert render.pack_failure_line(Path("/o"), OSError("no space")) == (
        "gpu-check: packing into /o failed: OSError: no space"
    )


def test_env_text_and_the_driver() -> None:
    info = {"torch": "2.0", "dry_run": True, "nvidia_smi": {"error": "FileNotFoundError: x"}}
    assert (
        render.env_text(info) == "torch: 2.0\ndry_run: True\n\nnvidia-smi:\nFileNotFoundError: x\n"
    )
    info = {"torch": "2.0", "nvidia_smi": {"csv": "H200, 570.86", "full": "TABLE\n"}}
    assert render.env_text(info) == "torch: 2.0\n\nnvidia-smi:\nTABLE\n\n"
    csv = "NVIDIA H200, 570.86 , 143771 MiB\nNVIDIA H200, 570.86, 143771 MiB"
    assert render.driver_of({"nvidia_smi": {"csv": csv}}) == "570.86"
    assert render.driver_of({"nvidia_smi": {"csv": "NVIDIA H200"}}) == "?"
    assert render.driver_of({"nvidia_smi": {"error": "no nvidia-smi"}}) == "?"
    assert render.driver_of({}) == "?"


def test_the_gpu_tests_table_by_hand() -> None:
    cases = [
        Case("test_a", "passed", "1.5", [("drift", 0.000123456), ("steps", 60.0)]),
        Case("test_b", "failed", "2", []),
        Case("test_c", "error", "0.1", []),
        Case("test_d", "skipped", "0", []),
    ]
    assert render.junit_rows(cases) == [
        "| test | outcome | seconds | recorded |",
        "|---|---|---:|---|",
        "| test_a | passed | 1.5 | drift 0.000123, steps 60 |",
        "| test_b | **FAILED** | 2 | — |",
        "| test_c | **ERROR** | 0.1 | — |",
        "| test_d | skipped | 0 | — |",
    ]
    assert render.junit_rows(None) == ["No pytest-gpu.xml (see pytest-gpu.log)."]


def test_the_training_runs_table_by_hand() -> None:
    runs = {
        "train-eager": {
            "rc": 0,
            "steps": 1000,
            "batch_size": 32,
            "fit_seconds": 61.26,
            "learned": {"type": True, "binary": True, "countdown": False},
            "final_val_loss": {"type": 0.123456, "binary": 12345.6},
        },
        "train-graph": {"rc": None, "skipped": "out of time"},
        "train-bf16": {"rc": 0, "learned": {"type": False}, "final_val_loss": {}},
    }
    assert render.train_rows(runs) == [
        "| run | status | steps | batch | fit s | heads learned | final val losses |",
        "|---|---|---:|---:|---:|---|---|",
        "| train-eager | ok | 1000 | 32 | 61.3 | type, binary | type 0.1235, binary 1.235e+04 |",
        "| train-graph | SKIPPED (out of time) | — | — | — | — | — |",
        "| train-bf16 | ok | — | — | — | — | — |",
    ]


def test_the_curve_comparison_by_hand() -> None:
    eager = {"step": [50, 150], "type": [2.0, 1.0], "binary": [0.5, 0.5]}
    graph = {"step": [50, 150], "type": [2.2, 1.0], "binary": [0.5, 0.4]}
    # step 50: |2 - 2.2| / 2 = 0.1 (type); step 150: |0.5 - 0.4| / 0.5 = 0.2 (binary)
    assert render.curve_comparison(eager, graph) == (
        "`--graph` against eager, logged training losses (10-step means): max relative "
        "difference 0.1 up to step 100, 0.2 over the whole run."
    )
    assert render.curve_comparison(eager, {**graph, "step": [50, 160]}) == (
        "The eager and `--graph` runs logged different steps."
    )
    assert render.curve_comparison(None, graph) == (
        "No comparison of the eager and `--graph` training curves (a run is missing)."
    )


def test_gpu_rows_with_nothing_measured_by_hand() -> None:
    text, figures = render.gpu_rows({"dry_run": True}, None, None, {}, (None, None))
    assert figures == {}
    assert text == (
        "# GPU check: rows for BENCHMARKS.md\n"
        "\n"
        "Card: ? (? GiB, capability ?); driver ?; torch None, CUDA None, cuDNN None; "
        "commit None.\n"
        "All ratios come from this one run (`bench-cuda.json`). One step per round; CUDA "
        "rounds end with `torch.cuda.synchronize()`.\n"
        "\n"
        "No benchmark figures: bench-cuda.json is missing (see bench-cuda.log).\n"
        "\n"
        "## GPU tests (`pytest-gpu.xml`)\n"
        "\n"
        "No pytest-gpu.xml (see pytest-gpu.log).\n"
        "\n"
        "## `moola train` runs\n"
        "\n"
        "| run | status | steps | batch | fit s | heads learned | final val losses |\n"
        "|---|---|---:|---:|---:|---|---|\n"
        "\n"
        "No comparison of the eager and `--graph` training curves (a run is missing).\n"
    )


def test_gpu_rows_sections_and_the_card_line() -> None:
    env = {
        "device": "NVIDIA H200",
        "memory_gib": 139.8,
        "capability": "9.0",
        "torch": "2.13.0",
        "torch_cuda": "12.8",
        "cudnn": 91000,
        "commit": "abc",
        "nvidia_smi": {"csv": "NVIDIA H200, 570.86, 143771 MiB"},
    }
    records = [record("graph", "trunknorm", 0.5, device="cuda")]
    text, figures = render.gpu_rows(env, records, [], {}, (None, None))
    lines = text.splitlines()
    assert lines[2] == (
        "Card: NVIDIA H200 (139.8 GiB, capability 9.0); driver 570.86; torch 2.13.0, "
        "CUDA 12.8, cuDNN 91000; commit abc."
    )
    headings = [line for line in lines if line.startswith("## ")]
    assert headings == [  # no cost rows measured: no trunknorm section
        "## Train step, ms per step",
        "## Targets",
        "## GPU tests (`pytest-gpu.xml`)",
        "## `moola train` runs",
    ]
    assert "| default `--graph` step ≤ 1.0 ms | 0.500 | yes | 0.600 | yes |" in lines
    assert list(figures) == ["cuda-graph-b32-trunknorm"]
    dry, _ = render.gpu_rows({**env, "dry_run": True}, records, [], {}, (None, None))
    assert "| default `--graph` step ≤ 1.0 ms | — | — | — | — |" in dry.splitlines()
