"""The run's own verdict on the served weights, per head, read from its ``metrics.json``.

A client should know which heads learned before it trusts them: training judged every head
against a prior-only predictor and wrote the decision and its reason down. The final
weights' verdict is ``tasks[head]``, the best weights' ``best.tasks[head]``. The verdict is
reported only when ``metrics.json`` judged the very step that is served; otherwise (no file,
an unreadable one, another step) it is unknown, and says why.
"""

from __future__ import annotations

import json
from typing import Any

from moola.inference.load import LoadedModel
from moola.rundir.layout import METRICS_NAME
from moola.serve.schemas import HeadVerdict, Verdict
from moola.tasks import TASK_NAMES


def unknown(reason: str) -> Verdict:
    return Verdict(
        known=False,
        source=reason,
        heads={name: HeadVerdict(learned=None, why=f"unknown: {reason}") for name in TASK_NAMES},
    )


def run_verdict(loaded: LoadedModel) -> Verdict:
    """The verdict of ``metrics.json`` beside the served weights file, for its weights."""
    path = loaded.path.parent / METRICS_NAME
    if not path.is_file():
        return unknown(f"no {METRICS_NAME} beside {loaded.path.name} (the run did not finish)")
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return unknown(f"{path} could not be read ({exc})")
    if not isinstance(metrics, dict):
        return unknown(f"{path} is not a metrics document")
    if loaded.weights == "best":
        best = metrics.get("best")
        if not isinstance(best, dict):
            return unknown(f"{path} records no best weights")
        tasks, step, source = best.get("tasks"), best.get("step"), "best.tasks"
    else:
        history = metrics.get("history")
        steps = history.get("step") if isinstance(history, dict) else None
        step = steps[-1] if isinstance(steps, list) and steps else None
        tasks, source = metrics.get("tasks"), "tasks"
    if step != loaded.step:
        return unknown(
            f"{path} judges step {step}, but the served {loaded.weights} weights are step "
            f"{loaded.step}"
        )
    heads = _heads(tasks)
    if heads is None:
        return unknown(f"{path} has no verdict for every head in {source}")
    return Verdict(known=True, source=f"{path}: {source} (step {step})", heads=heads)


def _heads(tasks: Any) -> dict[str, HeadVerdict] | None:
    if not isinstance(tasks, dict):
        return None
    heads = {}
    for name in TASK_NAMES:
        task = tasks.get(name)
        if not isinstance(task, dict) or not isinstance(task.get("learned"), bool):
            return None
        heads[name] = HeadVerdict(learned=task["learned"], why=str(task.get("why", "")))
    return heads
