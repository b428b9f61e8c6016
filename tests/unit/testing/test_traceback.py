"""A failing check points at the user's line: moola's own frames are hidden from pytest's
report (``__tracebackhide__``), for failures and misuse alike, in every traceback style."""

from __future__ import annotations

from pathlib import Path

import pytest

import moola.testing.asserts
import moola.testing.gradients

PLUGIN = ("-p", "no:moola", "-p", "moola.testing.plugin", "-p", "no:cacheprovider")

USER_TEST = """
import torch
from torch import nn

from moola.testing import assert_balanced, assert_learns, assert_no_task_starved, gradient_shares


def pulls(scale):
    w = nn.Parameter(torch.ones(4))
    return {"a": (3 * w).sum(), "b": scale * w.sum()}, w


def test_unbalanced():
    losses, w = pulls(1e-3)
    assert_balanced(nn.Module(), losses, w, max_spread=2.0)


def test_starved():
    losses, w = pulls(1e-3)
    shares = gradient_shares(nn.Module(), losses, w)
    assert_no_task_starved(shares, min_share=0.3)


def test_no_graph():
    losses, w = pulls(1.0)
    assert_balanced(nn.Module(), {k: v.detach() for k, v in losses.items()}, w, max_spread=2.0)


def test_freed_graph():
    losses, w = pulls(1.0)
    gradient_shares(nn.Module(), losses, w, retain_graph=False)
    assert_no_task_starved(nn.Module(), losses, w, min_share=0.1)


def test_unreached():
    losses, _ = pulls(1.0)
    _, other = pulls(1.0)
    gradient_shares(nn.Module(), losses, other)


def test_did_not_learn():
    assert_learns("a", initial=1.0, final=1.0, baseline=1.0)


def test_bad_bound():
    losses, w = pulls(1.0)
    assert_balanced(gradient_shares(nn.Module(), losses, w), max_spread=0.5)
"""

#: The user's lines that each failure must point at, and the error it must name.
EXPECTED = [
    ("assert_balanced(nn.Module(), losses, w, max_spread=2.0)", "BalanceError: task 'b'"),
    ("assert_no_task_starved(shares, min_share=0.3)", "BalanceError: starved: task 'b'"),
    ("assert_balanced(nn.Module(), {k: v.detach()", "CheckUsageError: the loss of task 'a' has"),
    ("assert_no_task_starved(nn.Module(), losses, w,", "CheckUsageError: the graph of these"),
    ("gradient_shares(nn.Module(), losses, other)", "CheckUsageError: the losses of tasks 'a'"),
    ('assert_learns("a", initial=1.0', "AssertionError: task 'a' did not learn"),
    ("assert_balanced(gradient_shares(nn.Module()", "CheckUsageError: max_spread is a ratio"),
]


def moola_code_lines() -> set[str]:
    """Every statement line of the checks' modules (as loaded: under mutation testing, the
    mutated copies), long enough not to be a plain ``)`` or ``else:``."""
    lines: set[str] = set()
    for module in (moola.testing.asserts, moola.testing.gradients):
        source = Path(str(module.__file__)).read_text().splitlines()
        lines |= {line.strip() for line in source if len(line.strip()) > 12}
    return lines


@pytest.mark.parametrize("style", ["auto", "long", "short"])
def test_failures_show_the_users_line_and_none_of_moolas(
    pytester: pytest.Pytester, style: str
) -> None:
    pytester.makepyfile(test_user=USER_TEST)
    result = pytester.runpytest_inprocess(*PLUGIN, f"--tb={style}")
    result.assert_outcomes(failed=len(EXPECTED))
    out = result.stdout.str()
    for call, error in EXPECTED:
        assert call in out, call
        result.stdout.fnmatch_lines([f"E *{error}*"])
    assert "moola/testing/" not in out.replace("\\", "/"), out  # no frame of moola's files
    assert "moola/probe.py" not in out.replace("\\", "/")
    assert "Trying to backward through the graph" not in out
    printed = {line.lstrip(">").strip() for line in out.splitlines()}
    shown = printed & moola_code_lines()
    assert not shown, shown


def test_the_check_modules_mark_every_raising_function_hidden() -> None:
    """Every function of the checks that raises sets ``__tracebackhide__`` (a new one that
    forgets would print moola's source in a user's report)."""
    import ast

    for module in (moola.testing.asserts, moola.testing.gradients):
        tree = ast.parse(Path(str(module.__file__)).read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef):
                continue
            raises = any(isinstance(n, ast.Raise) for n in ast.walk(node))
            hides = any(
                isinstance(n, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "__tracebackhide__" for t in n.targets)
                for n in node.body
            )
            if raises and not node.name.startswith("xǁ"):  # mutmut's copies are checked above
                assert hides, f"{module.__name__}.{node.name} raises without __tracebackhide__"
