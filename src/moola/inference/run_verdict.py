"""The run's own verdict on the weights ``moola predict`` uses, read from its ``metrics.json``.

Training judged every head on its validation windows and wrote the decision down: the
final weights' verdict is ``tasks[head]``, the best weights' ``best.tasks[head]``. It is
shown beside predict's own verdict so that the two can be compared, and it is reported only
when ``metrics.json`` judged the very step that is loaded; otherwise it is unknown, and says
why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from moola.inference.load import LoadedModel
from moola.rundir.layout import METRICS_NAME


@dataclass(frozen=True)
class RunVerdict:
    """Per head ``{"learned", "why"}`` as training judged the loaded weights, or unknown."""

    known: bool
    source: str  # where it comes from, or why it is unknown
    heads: dict[str, dict[str, Any]] = field(default_factory=dict)
    summary: str | None = None  # metrics.json's summary line, when it has one

    def word(self, head: str) -> str:
        """``learned`` / ``did not learn`` / ``unknown`` for one head."""
        if not self.known or head not in self.heads:
            return "unknown"
        return "learned" if self.heads[head]["learned"] else "did not learn"

    def to_dict(self) -> dict[str, Any]:
        return {
            "known": self.known,
            "source": self.source,
            "heads": self.heads,
            "summary": self.summary,
        }


def unknown(reason: str) -> RunVerdict:
    return RunVerdict(False, reason)


def run_verdict(loaded: LoadedModel) -> RunVerdict:
    """The verdict of ``metrics.json`` beside the loaded weights file, for its weights."""
    path = loaded.path.parent / METRICS_NAME
    if not path.is_file():
        return unknown(f"no {METRICS_NAME} beside {loaded.path.name} (the run did not finish)")
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return unknown(f"{path} could not be read ({exc})")
    if not isinstance(metrics, dict):
        return unknown(f"{path} is not a run's metrics")
    if loaded.weights == "best":
        best = metrics.get("best")
        if not isinstance(best, dict):
            return unknown(f"{path} records no best weights")
        tasks, step = best.get("tasks"), best.get("step")
    else:
        history = metrics.get("history")
        steps = history.get("step") if isinstance(history, dict) else None
        step = steps[-1] if isinstance(steps, list) and steps else None
        tasks = metrics.get("tasks")
    if step != loaded.step:
        return unknown(
            f"{path} judged step {step}, but the loaded {loaded.weights} weights are step "
            f"{loaded.step}"
        )
    if not isinstance(tasks, dict) or not all(
        isinstance(t, dict) and isinstance(t.get("learned"), bool) for t in tasks.values()
    ):
        return unknown(f"{path} has no verdict for every head")
    split = metrics.get("split") or {}
    n_val = split.get("n_val") if isinstance(split, dict) else None
    where = f", {n_val} validation windows" if n_val is not None else ""
    heads = {
        name: {"learned": t["learned"], "why": str(t.get("why", ""))} for name, t in tasks.items()
    }
    summary = metrics.get("summary")
    return RunVerdict(
        True,
        f"{METRICS_NAME}: {loaded.weights} weights (step {step}){where}",
        heads,
        summary if isinstance(summary, str) else None,
    )
