"""A syrupy extension for loss curves: readable JSON goldens in ``golden/``, compared with tolerances.

Exact text comparison would fail on any CPU whose floating-point kernels differ in the last
bit, so curves are compared numerically (see :class:`CurveTolerance`). Structure (recipe,
steps, tasks) must match exactly. A failure prints, per task, the points outside tolerance.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from syrupy.extensions.json import JSONSnapshotExtension

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


def tolerant_extension(
    tolerance: CurveTolerance, folder: Path, about: str = ""
) -> type[JSONSnapshotExtension]:
    """An extension class reading and writing goldens in ``folder``, comparing curves with
    the given tolerances; ``about`` (which goldens, and why) heads a failure's diff."""

    class LossCurveExtension(JSONSnapshotExtension):
        @classmethod
        def dirname(cls, *, test_location: Any) -> str:
            return str(folder)

        @classmethod
        def discovery_dirname(cls, *, test_location: Any) -> str:
            return str(folder)

        def matches(self, *, serialized_data: Any, snapshot_data: Any) -> bool:
            return not list(curve_differences(serialized_data, snapshot_data, tolerance))

        def diff_lines(self, serialized_data: Any, snapshot_data: Any) -> Iterator[str]:
            problems = list(curve_differences(serialized_data, snapshot_data, tolerance))
            if about:
                yield about
            yield f"loss curves differ from the golden ({tolerance.describe()}):"
            yield from problems[:40]
            if len(problems) > 40:
                yield f"... and {len(problems) - 40} more"

    return LossCurveExtension


@dataclass(frozen=True)
class CurveTolerance:
    """Two bands: tight while the trajectory is still deterministic across CPUs, loose after.

    ``early_steps``: logged steps up to this are compared point by point with
    ``|now - golden| <= atol + early_rtol * |golden|``. ``late_ratio``: after that, training
    is chaotic across CPU kernels, so only the mean of the second half of each curve is
    compared, and it must lie within a factor ``late_ratio`` of the golden's.
    """

    early_steps: int
    early_rtol: float
    atol: float
    late_ratio: float

    def describe(self) -> str:
        return (
            f"steps <= {self.early_steps}: rtol {self.early_rtol:g}, atol {self.atol:g}; "
            f"second-half mean within x{self.late_ratio:g}"
        )


def curve_differences(
    actual_text: Any, golden_text: Any, tolerance: CurveTolerance
) -> Iterator[str]:
    try:
        actual, golden = json.loads(str(actual_text)), json.loads(str(golden_text))
    except json.JSONDecodeError as exc:
        yield f"unreadable snapshot: {exc}"
        return
    if actual.get("recipe") != golden.get("recipe"):
        yield f"recipe changed: golden {golden.get('recipe')} vs now {actual.get('recipe')}"
    steps = golden.get("step")
    if actual.get("step") != steps:
        yield f"logged steps changed: golden {steps} vs now {actual.get('step')}"
        return
    golden_losses, actual_losses = golden.get("losses", {}), actual.get("losses", {})
    if set(golden_losses) != set(actual_losses):
        yield f"tasks changed: golden {sorted(golden_losses)} vs now {sorted(actual_losses)}"
        return
    for task in golden_losses:
        want_curve, got_curve = golden_losses[task], actual_losses[task]
        for step, want, got in zip(steps, want_curve, got_curve):
            if step > tolerance.early_steps:
                break
            allowed = tolerance.atol + tolerance.early_rtol * abs(want)
            if not math.isfinite(got) or abs(got - want) > allowed:
                rel = abs(got - want) / abs(want) if want else math.inf
                yield (
                    f"  {task:<9} step {step:>4}: golden {want:.6g}  now {got:.6g}  "
                    f"(rel diff {rel:.2%}, allowed {allowed:.3g})"
                )
        half = len(want_curve) // 2
        want_mean = sum(want_curve[half:]) / len(want_curve[half:])
        got_mean = sum(got_curve[half:]) / len(got_curve[half:])
        ratio = got_mean / want_mean if want_mean > 0 else math.inf
        if not (math.isfinite(ratio) and 1 / tolerance.late_ratio <= ratio <= tolerance.late_ratio):
            yield (
                f"  {task:<9} second-half mean: golden {want_mean:.6g}  now {got_mean:.6g}  "
                f"(x{ratio:.2f}, allowed x{1 / tolerance.late_ratio:.2f}..x{tolerance.late_ratio:g})"
            )
