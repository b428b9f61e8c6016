"""Loss-curve snapshots for syrupy, compared with tolerances instead of as exact text.

Exact text would fail on any CPU whose floating-point kernels differ in the last bit, and
syrupy has no float tolerance, so curves are compared numerically (:class:`CurveTolerance`);
everything else in the snapshot (a recipe, the logged steps, the task names) must match
exactly. A failure prints, per task, the points outside tolerance. ``--snapshot-update``
records as usual.

A snapshot is a JSON object with the curves (task name -> list of floats) under ``losses``
and, optionally, the logged steps under ``step``; :func:`curves_snapshot` builds one from a
plain dict of curves. syrupy is imported only when :func:`tolerant_extension` is called, so
the rest of :mod:`moola.testing` works without it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Curves are rounded to this many significant digits before they are stored.
SIGNIFICANT_DIGITS = 6
CURVES_KEY, STEPS_KEY = "losses", "step"


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


def curves_snapshot(
    curves: Mapping[str, Sequence[float]],
    steps: Sequence[int] | None = None,
    **exact: Any,
) -> dict[str, Any]:
    """A snapshot of ``curves`` (rounded to :data:`SIGNIFICANT_DIGITS`), logged at ``steps``
    (default 0, 1, ...); keyword arguments (a recipe, units) are stored and must match exactly."""
    lengths = {len(c) for c in curves.values()}
    if len(lengths) > 1:
        raise ValueError(f"curves of different lengths: {sorted(lengths)}")
    n = lengths.pop() if lengths else 0
    rounded = {
        name: [float(f"{float(v):.{SIGNIFICANT_DIGITS}g}") for v in curve]
        for name, curve in curves.items()
    }
    return {
        **exact,
        STEPS_KEY: list(steps) if steps is not None else list(range(n)),
        CURVES_KEY: rounded,
    }


def tolerant_extension(
    tolerance: CurveTolerance, folder: str | Path | None = None, about: str = ""
) -> type[Any]:
    """A syrupy extension class (JSON files) comparing curve snapshots with ``tolerance``.

    ``folder``: where the snapshot files live (default: syrupy's ``__snapshots__``);
    ``about`` (which goldens, and why) heads a failure's diff. Use it as
    ``snapshot.use_extension(tolerant_extension(tol)) == curves_snapshot(curves)``
    (``snapshot(extension_class=...)`` compares the same, but syrupy builds the failure's
    diff after restoring its default extension, so the per-point report would be lost).
    """
    try:
        from syrupy.extensions.json import JSONSnapshotExtension
    except ImportError:
        raise ImportError(
            "loss-curve snapshots need syrupy: pip install syrupy (the rest of moola.testing does not)"
        ) from None

    class LossCurveExtension(JSONSnapshotExtension):
        if folder is not None:

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


def curve_differences(
    actual_text: Any, golden_text: Any, tolerance: CurveTolerance
) -> Iterator[str]:
    """Each way the snapshot ``actual_text`` (JSON) falls outside ``tolerance`` of the golden."""
    try:
        actual, golden = json.loads(str(actual_text)), json.loads(str(golden_text))
    except json.JSONDecodeError as exc:
        yield f"unreadable snapshot: {exc}"
        return
    for key in sorted((set(actual) | set(golden)) - {CURVES_KEY, STEPS_KEY}):
        if actual.get(key) != golden.get(key):
            yield f"{key} changed: golden {golden.get(key)} vs now {actual.get(key)}"
    steps = golden.get(STEPS_KEY)
    if actual.get(STEPS_KEY) != steps:
        yield f"logged steps changed: golden {steps} vs now {actual.get(STEPS_KEY)}"
        return
    golden_losses, actual_losses = golden.get(CURVES_KEY, {}), actual.get(CURVES_KEY, {})
    if set(golden_losses) != set(actual_losses):
        yield f"tasks changed: golden {sorted(golden_losses)} vs now {sorted(actual_losses)}"
        return
    for task in golden_losses:
        want_curve, got_curve = golden_losses[task], actual_losses[task]
        if len(want_curve) != len(got_curve):
            yield f"  {task:<9} has {len(got_curve)} points, the golden {len(want_curve)}"
            continue
        yield from _curve_differences(task, steps, want_curve, got_curve, tolerance)


def _curve_differences(
    task: str,
    steps: Sequence[int] | None,
    want_curve: Sequence[float],
    got_curve: Sequence[float],
    tolerance: CurveTolerance,
) -> Iterator[str]:
    at = steps if steps is not None else range(len(want_curve))
    for step, want, got in zip(at, want_curve, got_curve):
        if step > tolerance.early_steps:
            break
        allowed = tolerance.atol + tolerance.early_rtol * abs(want)
        if not math.isfinite(got) or abs(got - want) > allowed:
            rel = abs(got - want) / abs(want) if want else math.inf
            yield (
                f"  {task:<9} step {step:>4}: golden {want:.6g}  now {got:.6g}  "
                f"(rel diff {rel:.2%}, allowed {allowed:.3g})"
            )
    if not want_curve:
        return
    half = len(want_curve) // 2
    want_mean = sum(want_curve[half:]) / len(want_curve[half:])
    got_mean = sum(got_curve[half:]) / len(got_curve[half:])
    ratio = got_mean / want_mean if want_mean > 0 else math.inf
    if not (math.isfinite(ratio) and 1 / tolerance.late_ratio <= ratio <= tolerance.late_ratio):
        yield (
            f"  {task:<9} second-half mean: golden {want_mean:.6g}  now {got_mean:.6g}  "
            f"(x{ratio:.2f}, allowed x{1 / tolerance.late_ratio:.2f}..x{tolerance.late_ratio:g})"
        )
