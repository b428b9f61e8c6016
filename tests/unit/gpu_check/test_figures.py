"""``tests.gpu_check.figures``: the numbers read from the stages' files."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from tests.gpu_check import figures
from tests.gpu_check.figures import Case


def test_benchmarks_are_read_in_milliseconds(tmp_path: Path) -> None:
    info = {"device": "cuda", "mode": "graph", "batch": 32, "balancer": "trunknorm"}
    stats = {"median": 0.0015, "min": 0.001, "mean": 0.002, "rounds": 7}
    benchmarks = [
        {"extra_info": {**info, "step_kind": "refresh", "hardware": "H200"}, "stats": stats},
        {"stats": stats},  # no extra_info: every field unknown
    ]
    path = tmp_path / "bench.json"
    path.write_text(json.dumps({"benchmarks": benchmarks}))
    first, bare = figures.load_benchmarks(path)
    assert (first["median"], first["min"], first["mean"]) == pytest.approx((1.5, 1.0, 2.0))
    assert (first["kind"], first["hardware"], first["rounds"]) == ("refresh", "H200", 7)
    assert (first["device"], first["mode"], first["batch"]) == ("cuda", "graph", 32)
    assert bare["device"] is None and bare["kind"] is None and bare["balancer"] is None


def test_ratio_is_none_without_both_figures() -> None:
    assert figures.ratio(3.0, 2.0) == 1.5
    assert figures.ratio(None, 2.0) is None
    assert figures.ratio(1.0, None) is None
    assert figures.ratio(1.0, 0.0) is None


def metrics(losses: list[float], steps: list[int] | None = None) -> dict[str, Any]:
    """A metrics.json as moola train writes it, cut down to what gpu-check reads."""
    tasks = {
        "type": {"learned": True, "final": 0.9},
        "binary": {"learned": 0, "final": 0.3},
    }
    steps = [10, 20, 200] if steps is None else steps
    return {
        "config": {"batch_size": 32, "balancer": "trunknorm"},
        "history": {"step": steps, "type": losses, "binary": [0.5, 0.4, 0.3][: len(steps)]},
        "tasks": tasks,
        "timing": {"fit_seconds": 12.5},
    }


def test_a_training_run_is_summarised_from_its_metrics() -> None:
    assert figures.train_summary(metrics([1.0, 0.8, 0.5])) == {
        "steps": 200,
        "batch_size": 32,
        "balancer": "trunknorm",
        "fit_seconds": 12.5,
        "learned": {"type": True, "binary": False},
        "final_val_loss": {"type": 0.9, "binary": 0.3},
    }
    early = metrics([], steps=[])
    del early["timing"]
    summary = figures.train_summary(early)
    assert summary["steps"] == 0 and summary["fit_seconds"] is None


def test_training_results_prefer_this_call_and_fall_back_to_earlier_files(tmp_path: Path) -> None:
    (tmp_path / "train-bf16").mkdir()
    (tmp_path / "train-bf16" / "metrics.json").write_text(json.dumps(metrics([1.0, 0.8, 0.5])))
    (tmp_path / "train-eager").mkdir()
    (tmp_path / "train-eager" / "metrics.json").write_text("not JSON: not read")
    this_call = {"train-eager": {"rc": 2}, "env": {"rc": 0}}
    runs = figures.train_results(tmp_path, this_call)
    assert list(runs) == ["train-eager", "train-bf16"]  # stage order; no train-graph at all
    assert runs["train-eager"] == {"rc": 2}
    assert runs["train-bf16"]["rc"] == 0 and runs["train-bf16"]["steps"] == 200


def test_the_curve_gap_is_relative_with_a_floor() -> None:
    eager = {"step": [10, 200], "type": [0.0, 1.0]}
    graph = {"step": [10, 200], "type": [0.0005, 1.5]}
    # step 10: 0.0005 / max(0, 1e-3) = 0.5; step 200: 0.5 / 1 = 0.5 but after step 100
    assert figures.curve_gap(eager, graph) == pytest.approx((0.5, 0.5))
    graph = {"step": [10, 200], "type": [0.0, 3.0]}
    assert figures.curve_gap(eager, graph) == pytest.approx((0.0, 2.0))
    on_the_edge = {"step": [100, 110], "type": [1.0, 1.0]}
    gap = figures.curve_gap(on_the_edge, {**on_the_edge, "type": [1.25, 1.5]})
    assert gap == pytest.approx((0.25, 0.5))  # step 100 counts as early
    late = {"step": [200], "type": [1.0]}
    gap = figures.curve_gap(late, late)
    assert gap is not None and math.isnan(gap[0]) and gap[1] == 0.0
    assert figures.curve_gap(eager, {**graph, "step": [10, 210]}) is None


def test_junit_cases_with_outcomes_and_recorded_values(tmp_path: Path) -> None:
    xml = tmp_path / "pytest-gpu.xml"
    xml.write_text(
        '<?xml version="1.0"?><testsuites><testsuite name="pytest">'
        '<testcase name="test_a" time="1.5"><properties>'
        '<property name="drift" value="1e-4"/></properties></testcase>'
        '<testcase name="test_b" time="2"><failure message="x"/></testcase>'
        '<testcase name="test_c" time="0.1"><error message="e"/></testcase>'
        '<testcase name="test_d"><skipped message="s"/><failure message="f"/></testcase>'
        "</testsuite></testsuites>"
    )
    assert figures.junit_cases(xml) == [
        Case("test_a", "passed", "1.5", [("drift", 1e-4)]),
        Case("test_b", "failed", "2", []),
        Case("test_c", "error", "0.1", []),
        Case("test_d", "skipped", "?", []),  # skipped is named last, so it wins
    ]
    assert figures.junit_cases(tmp_path / "missing.xml") is None


def test_missing_files_read_as_none(tmp_path: Path) -> None:
    assert figures.read_json(tmp_path / "env.json") is None
    assert figures.history(tmp_path / "metrics.json") is None
    (tmp_path / "metrics.json").write_text(json.dumps(metrics([1.0, 0.8, 0.5])))
    assert figures.history(tmp_path / "metrics.json") == metrics([1.0, 0.8, 0.5])["history"]
