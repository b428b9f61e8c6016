"""The tolerant loss-curve snapshot on a plain dict of curves, through syrupy as a user runs it."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import pytest

import moola.testing
from moola.testing import CurveTolerance, curve_differences, curves_snapshot

USER_TEST = """
from moola.testing import CurveTolerance, curves_snapshot, tolerant_extension

TOL = CurveTolerance(early_steps=2, early_rtol=1e-3, atol=0.0, late_ratio=2.0)

def test_curves(snapshot):
    curves = {{"cls": [1.0, 0.8, {cls2}, 0.5, 0.4], "reg": [2.0, 1.5, 1.0, 0.9, {reg4}]}}
    assert snapshot.use_extension(tolerant_extension(TOL)) == curves_snapshot(curves, model="mlp")
"""


def test_record_then_compare_with_tolerance(pytester: pytest.Pytester) -> None:
    plain = ("-p", "no:cacheprovider")
    pytester.makepyfile(test_user=USER_TEST.format(cls2=0.6, reg4=0.8))
    pytester.runpytest_inprocess("--snapshot-update", *plain).assert_outcomes(passed=1)
    recorded = list(pytester.path.glob("__snapshots__/**/*.json"))
    assert len(recorded) == 1 and '"cls"' in recorded[0].read_text()

    pytester.makepyfile(test_user=USER_TEST.format(cls2=0.6003, reg4=1.2))  # within tolerance
    pytester.runpytest_inprocess(*plain).assert_outcomes(passed=1)

    pytester.makepyfile(test_user=USER_TEST.format(cls2=0.61, reg4=0.8))  # step 2 off by 1.7%
    result = pytester.runpytest_inprocess(*plain)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*cls*step    2: golden 0.6  now 0.61*"])


def test_plain_curves_get_index_steps_and_exact_extras() -> None:
    snap = curves_snapshot({"a": [1.0, 2.0 / 3.0]}, model="mlp")
    assert snap == {"model": "mlp", "step": [0, 1], "losses": {"a": [1.0, 0.666667]}}
    tol = CurveTolerance(early_steps=5, early_rtol=0.0, atol=0.0, late_ratio=1.5)
    other = curves_snapshot({"a": [1.0, 2.0 / 3.0]}, model="resnet")
    problems = list(curve_differences(json.dumps(other), json.dumps(snap), tol))
    assert problems == ["model changed: golden mlp vs now resnet"]
    with pytest.raises(ValueError, match="different lengths"):
        curves_snapshot({"a": [1.0], "b": [1.0, 2.0]})


def test_plugin_imports_without_syrupy(monkeypatch: pytest.MonkeyPatch) -> None:
    """No module of moola.testing imports syrupy at import time; the snapshot asks for it."""
    for path in Path(moola.testing.__file__).parent.glob("*.py"):
        top_level = ast.parse(path.read_text()).body
        imported = [
            alias.name if isinstance(node, ast.Import) else node.module or ""
            for node in top_level
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in (node.names if isinstance(node, ast.Import) else [node])
        ]
        assert not [m for m in imported if m.split(".")[0] == "syrupy"], path.name
    monkeypatch.setitem(sys.modules, "syrupy.extensions.json", None)  # as if not installed
    with pytest.raises(ImportError, match="need syrupy: pip install syrupy"):
        moola.testing.tolerant_extension(CurveTolerance(1, 0.0, 0.0, 2.0))


def test_loading_the_plugin_imports_neither_torch_nor_syrupy() -> None:
    """pytest loads the plugin in every session where moola is installed: it must stay cheap."""
    import subprocess

    code = "import sys, moola.testing.plugin; print(sorted({'torch', 'syrupy'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_exported_name_resolves() -> None:
    assert all(getattr(moola.testing, name) is not None for name in moola.testing.__all__)
