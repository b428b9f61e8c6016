"""docs/testing.md ("Check your own model"): its example test files fail as the page says.

That they pass as written is tests/unit/docs/test_examples.py's job (every example of the
docs runs); here a starved head fails by name, and a moved loss curve fails the snapshot.
"""

from __future__ import annotations

import re

import pytest

from tests.unit.docs.markdown import ROOT, blocks

PAGE = ROOT / "docs" / "testing.md"
# -p no:moola: the installed entry point (when present) steps aside, so this works with it or not.
PLUGIN = ("-p", "no:moola", "-p", "moola.testing.plugin", "-p", "no:cacheprovider")


def example(marker: str) -> str:
    found = [b.code for b in blocks(PAGE) if b.lang == "python" and b.marker == marker]
    assert len(found) == 1, f"one python block marked <!-- {marker} --> in {PAGE.name}"
    return found[0]


EXAMPLE = example("run: pytest")
SNAPSHOT = example("run: pytest --snapshot-update")


def test_the_example_uses_only_the_plugin() -> None:
    assert "from moola.testing import" in EXAMPLE
    assert not re.search(r"from moola\.(?!testing)|import moola\.(?!testing)", EXAMPLE)


def test_a_starved_head_fails_by_name(pytester: pytest.Pytester) -> None:
    starved = EXAMPLE.replace("REGRESSION_SCALE = 1.0", "REGRESSION_SCALE = 1e-3")
    assert starved != EXAMPLE
    pytester.makepyfile(test_my_model=starved)
    result = pytester.runpytest_inprocess(*PLUGIN)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*BalanceError: task 'regression' has share 0.00*max_spread 10x"])


def test_the_snapshot_example_records_then_compares(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_curves=SNAPSHOT)
    pytester.runpytest_inprocess("--snapshot-update", *PLUGIN).assert_outcomes(passed=1)
    pytester.runpytest_inprocess(*PLUGIN).assert_outcomes(passed=1)
    pytester.makepyfile(test_curves=SNAPSHOT.replace("0.9, 0.7", "0.91, 0.7"))
    result = pytester.runpytest_inprocess(*PLUGIN)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*classification step   10: golden 0.9  now 0.91*"])
