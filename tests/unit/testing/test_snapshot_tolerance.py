"""Each tolerance of the loss-curve snapshot passes noise and fails a real change, at its bound:
the early band (``atol + early_rtol·|golden|``, point by point up to ``early_steps``), the
late band (the second-half mean within a factor ``late_ratio``, either way), and the exact
parts (extra keys, steps, task names, lengths)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from moola.testing import CurveTolerance, curve_differences, curves_snapshot, tolerant_extension

#: dyadic numbers: the bounds below are exact in binary
TOL = CurveTolerance(early_steps=2, early_rtol=0.25, atol=0.5, late_ratio=2.0)
GOLDEN = {"a": [4.0, 4.0, 4.0, 2.0, 2.0, 2.0]}  # steps 0..5; early: 0..2; second half: 2.0


def problems(now: dict[str, list[float]], golden: Any = None, **kwargs: Any) -> list[str]:
    golden_json = json.dumps(golden if golden is not None else curves_snapshot(GOLDEN))
    return list(curve_differences(json.dumps(curves_snapshot(now, **kwargs)), golden_json, TOL))


def with_point(step: int, value: float) -> dict[str, list[float]]:
    curve = list(GOLDEN["a"])
    curve[step] = value
    return {"a": curve}


def test_the_early_band_is_atol_plus_rtol_of_the_golden() -> None:
    # allowed at golden 4: 0.5 + 0.25·4 = 1.5, either way
    assert problems(with_point(0, 5.5)) == []
    assert problems(with_point(2, 2.5)) == []  # the last early step is compared too
    assert problems(with_point(1, 5.5625)) == [
        "  a         step    1: golden 4  now 5.5625  (rel diff 39.06%, allowed 1.5)"
    ]
    assert len(problems(with_point(2, 2.4375))) == 1


def test_after_the_early_steps_points_are_free_but_the_mean_is_not() -> None:
    # step 3 is past early_steps: a point far off passes while the second-half mean holds
    assert problems({"a": [4.0, 4.0, 4.0, 0.5, 2.0, 3.5]}) == []
    # the second-half mean (2.0) may move by a factor 2 either way: 1.0 and 4.0 pass
    assert problems({"a": [4.0, 4.0, 4.0, 4.0, 4.0, 4.0]}) == []
    assert problems({"a": [4.0, 4.0, 4.0, 1.0, 1.0, 1.0]}) == []
    assert problems({"a": [4.0, 4.0, 4.0, 4.0, 4.0, 4.125]}) == [
        "  a         second-half mean: golden 2  now 4.04167  (x2.02, allowed x0.50..x2)"
    ]
    assert len(problems({"a": [4.0, 4.0, 4.0, 1.0, 1.0, 0.875]})) == 1


def test_a_non_finite_point_always_fails() -> None:
    assert problems(with_point(1, float("nan"))) == [
        "  a         step    1: golden 4  now nan  (rel diff nan%, allowed 1.5)"
    ]
    out = problems({"a": [4.0, 4.0, 4.0, 2.0, 2.0, float("inf")]})
    assert len(out) == 1 and "second-half mean" in out[0]


def test_a_golden_mean_of_zero_or_less_fails_any_curve() -> None:
    golden = curves_snapshot({"a": [1.0, 1.0, 0.0, 0.0]})
    out = problems({"a": [1.0, 1.0, 0.0, 0.0]}, golden=golden)
    assert out == ["  a         second-half mean: golden 0  now 0  (xinf, allowed x0.50..x2)"]


def test_a_golden_of_zero_reports_an_infinite_relative_difference() -> None:
    golden = curves_snapshot({"a": [0.0, 2.0, 2.0, 2.0]})
    assert problems({"a": [1.0, 2.0, 2.0, 2.0]}, golden=golden) == [
        "  a         step    0: golden 0  now 1  (rel diff inf%, allowed 0.5)"
    ]


def test_the_exact_parts_must_match() -> None:
    assert problems(GOLDEN, model="mlp", golden=curves_snapshot(GOLDEN, model="mlp")) == []
    assert problems(GOLDEN, model="lstm", golden=curves_snapshot(GOLDEN, model="mlp")) == [
        "model changed: golden mlp vs now lstm"
    ]
    assert problems(GOLDEN, steps=[0, 2, 4, 6, 8, 10]) == [
        "logged steps changed: golden [0, 1, 2, 3, 4, 5] vs now [0, 2, 4, 6, 8, 10]"
    ]
    assert problems({"b": GOLDEN["a"]}) == ["tasks changed: golden ['a'] vs now ['b']"]
    golden = {"step": [0, 1, 2], "losses": {"a": [4.0, 4.0, 4.0, 2.0, 2.0, 2.0]}}
    assert problems({"a": [4.0, 4.0, 4.0]}, golden=golden) == [
        "  a         has 3 points, the golden 6"
    ]


def test_steps_are_read_from_the_snapshot() -> None:
    """With logged steps 0, 10, 20, ...: only step 0 is within early_steps 2."""
    steps = [0, 10, 20, 30, 40, 50]
    golden = curves_snapshot(GOLDEN, steps=steps)
    assert problems({"a": [4.0, 9.0, 9.0, 2.0, 2.0, 2.0]}, golden=golden, steps=steps) == []
    assert problems({"a": [9.0, 4.0, 4.0, 2.0, 2.0, 2.0]}, golden=golden, steps=steps) == [
        "  a         step    0: golden 4  now 9  (rel diff 125.00%, allowed 1.5)"
    ]


def test_an_unreadable_snapshot_is_one_problem() -> None:
    out = list(curve_differences("{not json", json.dumps(curves_snapshot(GOLDEN)), TOL))
    assert len(out) == 1 and out[0].startswith("unreadable snapshot: ")


def test_curves_are_rounded_to_six_digits() -> None:
    snap = curves_snapshot({"a": [1.23456789, 123456.789, 2.0 / 3.0]})
    assert snap["losses"]["a"] == [1.23457, 123457.0, 0.666667]
    assert curves_snapshot({}) == {"step": [], "losses": {}}


def test_the_tolerance_describes_itself() -> None:
    assert TOL.describe() == "steps <= 2: rtol 0.25, atol 0.5; second-half mean within x2"


# ---------------------------------------------------------------- the syrupy extension


def extension(**kwargs: Any) -> Any:
    return tolerant_extension(TOL, **kwargs)()


def test_the_extension_matches_within_tolerance_only() -> None:
    ext = extension()
    golden = json.dumps(curves_snapshot(GOLDEN))
    assert ext.matches(serialized_data=json.dumps(curves_snapshot(GOLDEN)), snapshot_data=golden)
    noisy = json.dumps(curves_snapshot(with_point(0, 5.5)))
    assert ext.matches(serialized_data=noisy, snapshot_data=golden)
    changed = json.dumps(curves_snapshot(with_point(0, 5.75)))
    assert not ext.matches(serialized_data=changed, snapshot_data=golden)


def test_the_failure_report_heads_with_about_and_caps_at_forty_points() -> None:
    golden = curves_snapshot({"a": [1.0] * 100})
    far = curves_snapshot({"a": [9.0] * 100})
    tol = CurveTolerance(early_steps=1000, early_rtol=0.0, atol=0.0, late_ratio=100.0)
    ext = tolerant_extension(tol, about="goldens of the test platform")()
    lines = list(ext.diff_lines(json.dumps(far), json.dumps(golden)))
    assert lines[0] == "goldens of the test platform"
    assert lines[1] == f"loss curves differ from the golden ({tol.describe()}):"
    assert len(lines) == 2 + 40 + 1 and lines[-1] == "... and 60 more"
    assert lines[2].startswith("  a         step    0: golden 1  now 9")
    plain = list(tolerant_extension(tol)().diff_lines(json.dumps(far), json.dumps(golden)))
    assert plain[0].startswith("loss curves differ") and len(plain) == 42
    few = curves_snapshot({"a": [9.0] * 40 + [1.0] * 60})
    assert list(ext.diff_lines(json.dumps(few), json.dumps(golden)))[-1].startswith("  a ")


def test_the_folder_is_where_the_files_live(tmp_path: Any) -> None:
    custom = tolerant_extension(TOL, folder=tmp_path / "goldens")
    assert custom.dirname(test_location=None) == str(tmp_path / "goldens")
    assert custom.discovery_dirname(test_location=None) == str(tmp_path / "goldens")
    default = tolerant_extension(TOL)
    assert "dirname" not in vars(default) and "discovery_dirname" not in vars(default)


@pytest.mark.parametrize("noise", [1e-5, -1e-5])
def test_the_readme_tolerance_passes_float_noise(noise: float) -> None:
    """The README's tolerance (rtol 1e-4) passes a last-digits difference and fails a 1% one."""
    tol = CurveTolerance(early_steps=20, early_rtol=1e-4, atol=1e-7, late_ratio=2.0)
    golden = json.dumps(curves_snapshot({"a": [1.1, 0.9, 0.7, 0.6]}, steps=[0, 10, 20, 30]))
    noisy = curves_snapshot({"a": [1.1 * (1 + noise), 0.9, 0.7, 0.6]}, steps=[0, 10, 20, 30])
    assert list(curve_differences(json.dumps(noisy), golden, tol)) == []
    moved = curves_snapshot({"a": [1.1, 0.909, 0.7, 0.6]}, steps=[0, 10, 20, 30])
    assert len(list(curve_differences(json.dumps(moved), golden, tol))) == 1
