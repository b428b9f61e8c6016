"""The numbers the rows show, read from the stages' files: no markdown here."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from tests.gpu_check.layout import TRAIN_FLAGS
from tests.gpu_check.runner import Result

#: The curves' comparison reports its worst difference up to this step apart.
EARLY_STEPS = 100


class Case(NamedTuple):
    """One test of the JUnit XML: its outcome and the values it recorded (record_property)."""

    name: str
    outcome: str  # passed, failed, error or skipped
    seconds: str  # as the XML spells it
    recorded: list[tuple[str, float]]


def read_json(path: Path) -> Any:
    """The JSON in ``path``, or None when there is no such file."""
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def history(path: Path) -> dict[str, list[float]] | None:
    """The logged training losses (``history``) of a run's metrics.json, or None without one."""
    metrics = read_json(path)
    return None if metrics is None else metrics["history"]


def load_benchmarks(path: Path) -> list[dict[str, Any]]:
    """One record per benchmark: device, mode, batch, balancer, kind and ms statistics."""
    rows = []
    for bench in json.loads(path.read_text(encoding="utf-8"))["benchmarks"]:
        info, stats = bench.get("extra_info", {}), bench["stats"]
        rows.append(
            {
                "device": info.get("device"),
                "mode": info.get("mode"),
                "batch": info.get("batch"),
                "balancer": info.get("balancer"),
                "kind": info.get("step_kind"),  # trunknorm-cost benchmarks only
                "median": 1e3 * stats["median"],
                "min": 1e3 * stats["min"],
                "mean": 1e3 * stats["mean"],
                "rounds": stats["rounds"],
                "hardware": info.get("hardware"),
            }
        )
    return rows


def ratio(a: float | None, b: float | None) -> float | None:
    """``a / b``, or None when either is missing (or ``b`` is 0)."""
    return None if a is None or not b else a / b


def train_summary(metrics: Mapping[str, Any]) -> Result:
    """What the rows show of one ``moola train`` run's metrics.json."""
    config = metrics["config"]
    steps = metrics["history"]["step"][-1] if metrics["history"]["step"] else 0
    seconds = metrics.get("timing", {}).get("fit_seconds")
    return {
        "steps": steps,
        "batch_size": config["batch_size"],
        "balancer": config["balancer"],
        "fit_seconds": seconds,
        "learned": {name: bool(t["learned"]) for name, t in metrics["tasks"].items()},
        "final_val_loss": {name: t["final"] for name, t in metrics["tasks"].items()},
    }


def pretrain_summary(metrics: Mapping[str, Any]) -> Result:
    """What the summary shows of the ``moola pretrain`` run: its windows per second (the
    steps' windows over the fit's seconds, its initial and final evaluation included)."""
    config = metrics["config"]
    steps = metrics["history"]["step"][-1] if metrics["history"]["step"] else 0
    seconds = metrics.get("timing", {}).get("fit_seconds")
    rate = steps * config["batch_size"] / seconds if seconds else None
    note = (
        f"{rate:.0f} windows/s ({steps} steps of {config['batch_size']}, {seconds:.1f} s)"
        if rate is not None
        else "no timing"
    )
    return {
        "steps": steps,
        "batch_size": config["batch_size"],
        "fit_seconds": seconds,
        "windows_per_second": rate,
        "learned": {name: bool(t["learned"]) for name, t in metrics["tasks"].items()},
        "note": note,
    }


def train_results(work: Path, results: Mapping[str, Result]) -> dict[str, Result]:
    """Each training run's result, in stage order: this call's, else an earlier call's
    metrics.json (``--stages rows`` after a rerun of other stages); runs with neither are
    left out."""
    runs: dict[str, Result] = {}
    for name in TRAIN_FLAGS:
        if name in results:
            runs[name] = results[name]
        elif (metrics := read_json(work / name / "metrics.json")) is not None:
            runs[name] = {"rc": 0, **train_summary(metrics)}
    return runs


def curve_gap(
    eager: Mapping[str, list[float]], graph: Mapping[str, list[float]]
) -> tuple[float, float] | None:
    """The largest relative difference of the logged training losses over all tasks, up to
    step EARLY_STEPS and over the whole run (nan when there is none), or None when the two
    runs logged different steps."""
    if eager["step"] != graph["step"]:
        return None
    worst: dict[int, float] = {}
    for task, values in eager.items():
        if task == "step":
            continue
        for step, a, b in zip(eager["step"], values, graph[task]):
            rel = abs(a - b) / max(abs(a), 1e-3)
            worst[step] = max(worst.get(step, 0.0), rel)
    first = max((v for k, v in worst.items() if k <= EARLY_STEPS), default=float("nan"))
    overall = max(worst.values(), default=float("nan"))
    return first, overall


def junit_cases(path: Path) -> list[Case] | None:
    """Each test case of a JUnit XML file, or None when there is no such file."""
    if not path.is_file():
        return None
    cases = []
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome = "passed"
        for tag, name in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
            if case.find(tag) is not None:
                outcome = name
        recorded = [
            (str(p.get("name")), float(p.get("value", "nan"))) for p in case.iter("property")
        ]
        cases.append(Case(case.get("name", "?"), outcome, case.get("time", "?"), recorded))
    return cases
