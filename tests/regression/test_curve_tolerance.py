"""The golden comparison itself must be able to fail, and say where."""

from __future__ import annotations

import json

from moola.testing import CurveTolerance, curve_differences

TOL = CurveTolerance(early_steps=40, early_rtol=1e-3, atol=0.0, late_ratio=3.0)


def snapshot(losses: dict[str, list[float]], steps: list[int] | None = None) -> str:
    n = len(next(iter(losses.values())))
    return json.dumps(
        {
            "recipe": {"balancer": "x"},
            "step": steps or [20 * (i + 1) for i in range(n)],
            "losses": losses,
        }
    )


GOLDEN = snapshot({"countdown": [12.0, 11.0, 8.0, 6.0, 5.0, 4.0]})


def test_identical_curves_match() -> None:
    assert list(curve_differences(GOLDEN, GOLDEN, TOL)) == []


def test_early_drift_beyond_rtol_is_reported_with_step() -> None:
    drifted = snapshot({"countdown": [12.0, 11.02, 8.0, 6.0, 5.0, 4.0]})
    problems = list(curve_differences(drifted, GOLDEN, TOL))
    assert len(problems) == 1 and "countdown" in problems[0] and "step   40" in problems[0]


def test_late_points_may_wander_but_a_stuck_head_fails() -> None:
    wandering = snapshot({"countdown": [12.0, 11.0, 9.0, 5.0, 7.0, 3.0]})
    assert list(curve_differences(wandering, GOLDEN, TOL)) == []
    stuck = snapshot({"countdown": [12.0, 11.0, 16.0, 16.0, 16.0, 16.0]})  # x3.2
    problems = list(curve_differences(stuck, GOLDEN, TOL))
    assert any("second-half mean" in p for p in problems)


def test_structure_changes_are_reported() -> None:
    assert any(
        "logged steps changed" in p
        for p in curve_differences(snapshot({"countdown": [1.0] * 6}, [5] * 6), GOLDEN, TOL)
    )
    assert any(
        "tasks changed" in p for p in curve_differences(snapshot({"type": [12.0] * 6}), GOLDEN, TOL)
    )
    assert any(
        "NaN" in p or "nan" in p
        for p in curve_differences(snapshot({"countdown": [float("nan")] * 6}), GOLDEN, TOL)
    )
