"""README "Check your own model": its example test files run as written, as a user runs them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[3] / "README.md"
# -p no:moola: the installed entry point (when present) steps aside, so this works with it or not.
PLUGIN = ("-p", "no:moola", "-p", "moola.testing.plugin", "-p", "no:cacheprovider")


def block(marker: str) -> str:
    text = README.read_text()
    found = re.search(re.escape(marker) + r" -->\n```python\n(.*?)```", text, re.S)
    assert found is not None, f"no python block after {marker!r} in README.md"
    return found.group(1)


EXAMPLE = block("run by tests/unit/testing/test_readme_example.py")
SNAPSHOT = block("run by tests/unit/testing/test_readme_example.py (snapshot)")


def test_the_example_passes_and_a_starved_head_fails_by_name(pytester: pytest.Pytester) -> None:
    assert "import moola.testing" in EXAMPLE or "from moola.testing import" in EXAMPLE
    assert not re.search(r"from moola\.(?!testing)|import moola\.(?!testing)", EXAMPLE)
    pytester.makepyfile(test_my_model=EXAMPLE)
    pytester.runpytest_inprocess(*PLUGIN).assert_outcomes(passed=2)

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
