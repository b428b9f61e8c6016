"""A syrupy extension for loss curves: readable JSON goldens in ``golden/``, compared with tolerances.

Exact text comparison would fail on any CPU whose floating-point reductions differ in the
last bit, so curves are compared numerically: |actual - golden| <= atol + rtol * |golden|,
per task and per point. Structure (config, steps, tasks) must match exactly. A failure
prints, per task, the points outside tolerance.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from syrupy.extensions.json import JSONSnapshotExtension

GOLDEN_DIR = Path(__file__).resolve().parents[2] / "golden"
SIGNIFICANT_DIGITS = 6


def curve_snapshot(result: Any, *, every: int = 4) -> dict[str, Any]:
    """Downsampled, rounded per-task training-loss curves plus the recipe that made them."""
    history = result.history
    keep = list(range(every - 1, len(history.step), every))
    if keep[-1] != len(history.step) - 1:
        keep.append(len(history.step) - 1)
    config = result.config
    curves = {
        name: [float(f"{history.losses[name][i]:.{SIGNIFICANT_DIGITS}g}") for i in keep]
        for name in history.task_names
    }
    return {
        "recipe": {
            "balancer": config.balancer,
            "countdown_units": config.countdown_units,
            "steps": config.steps,
            "batch_size": config.batch_size,
            "lr": config.lr,
            "seed": config.seed,
            "n_windows": config.n_windows,
            "model": config.model,
            "threads": config.threads,
        },
        "units": "mean training loss over each 5-step log interval; countdown in bars",
        "step": [history.step[i] for i in keep],
        "losses": curves,
    }


def tolerant_extension(*, rtol: float, atol: float) -> type[JSONSnapshotExtension]:
    """An extension class comparing curves with the given tolerances."""

    class LossCurveExtension(JSONSnapshotExtension):
        @classmethod
        def dirname(cls, *, test_location: Any) -> str:
            return str(GOLDEN_DIR)

        @classmethod
        def discovery_dirname(cls, *, test_location: Any) -> str:
            return str(GOLDEN_DIR)

        def matches(self, *, serialized_data: Any, snapshot_data: Any) -> bool:
            return not list(curve_differences(serialized_data, snapshot_data, rtol=rtol, atol=atol))

        def diff_lines(self, serialized_data: Any, snapshot_data: Any) -> Iterator[str]:
            problems = list(curve_differences(serialized_data, snapshot_data, rtol=rtol, atol=atol))
            yield f"loss curves differ from the golden (rtol={rtol:g}, atol={atol:g}):"
            yield from problems[:40]
            if len(problems) > 40:
                yield f"... and {len(problems) - 40} more"

    return LossCurveExtension


def curve_differences(
    actual_text: Any, golden_text: Any, *, rtol: float, atol: float
) -> Iterator[str]:
    try:
        actual, golden = json.loads(str(actual_text)), json.loads(str(golden_text))
    except json.JSONDecodeError as exc:
        yield f"unreadable snapshot: {exc}"
        return
    if actual.get("recipe") != golden.get("recipe"):
        yield f"recipe changed: golden {golden.get('recipe')} vs now {actual.get('recipe')}"
    if actual.get("step") != golden.get("step"):
        yield f"logged steps changed: golden {golden.get('step')} vs now {actual.get('step')}"
        return
    golden_losses, actual_losses = golden.get("losses", {}), actual.get("losses", {})
    if set(golden_losses) != set(actual_losses):
        yield f"tasks changed: golden {sorted(golden_losses)} vs now {sorted(actual_losses)}"
        return
    for task in golden_losses:
        for step, want, got in zip(golden["step"], golden_losses[task], actual_losses[task]):
            allowed = atol + rtol * abs(want)
            if not math.isfinite(got) or abs(got - want) > allowed:
                rel = abs(got - want) / abs(want) if want else math.inf
                yield (
                    f"  {task:<9} step {step:>4}: golden {want:.6g}  now {got:.6g}  "
                    f"(rel diff {rel:.2%}, allowed {allowed:.3g})"
                )
