"""The CLI reference page (docs/cli.md) is rendered from the real parsers at build time:
every command and every flag is on it, with its help and default."""

from __future__ import annotations

import argparse
import importlib.util
from types import ModuleType

import pytest

from moola.cli import COMMANDS, build_parser
from tests.unit.docs.markdown import ROOT, anchors


def _gen_cli() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_cli", ROOT / "docs" / "gen_cli.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen_cli = _gen_cli()
PAGE = gen_cli.render()


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    return gen_cli.subcommands(build_parser())  # type: ignore[no-any-return]


def test_every_command_has_a_section_and_a_row() -> None:
    names = [module.__name__.rsplit(".", 1)[-1] for module in COMMANDS]
    assert list(_subparsers()) == names  # the parser lists every command of cli.COMMANDS
    for name in names:
        assert f"## `moola {name}`" in PAGE
        assert f"[`moola {name}`](#moola-{name})" in PAGE
        assert f"moola-{name}" in anchors(PAGE)


@pytest.mark.parametrize("name", list(_subparsers()))
def test_every_flag_is_listed_with_its_help(name: str) -> None:
    section = PAGE.split(f"## `moola {name}`", 1)[1].split("\n## ", 1)[0]
    for action in gen_cli.flags(_subparsers()[name]):
        shown = action.option_strings[0] if action.option_strings else action.metavar or action.dest
        assert f"`{shown}" in section, f"moola {name}: {shown} missing"
        first_words = " ".join((action.help or "").split()[:3])
        assert gen_cli._cell(first_words) in section, f"moola {name} {shown}: help missing"


def test_defaults_come_from_the_parser() -> None:
    """moola train's defaults come from TrainConfig through the help; others from argparse."""
    train = PAGE.split("## `moola train`", 1)[1].split("\n## ", 1)[0]
    assert "| `--steps` `N` | total optimizer steps (also when resuming) (default: 1000) |" in train
    label = PAGE.split("## `moola label`", 1)[1].split("\n## ", 1)[0]
    assert "(default: 15)" in label and "`--stride`" in label


def test_a_flag_without_a_stated_default_gets_the_parsers() -> None:
    parser = argparse.ArgumentParser(prog="demo")
    sub = parser.add_subparsers(dest="command")
    one = sub.add_parser("one", help="the one command", description="Does one thing.")
    one.add_argument("--size", type=int, default=7, help="how big | how wide")
    one.add_argument("--fast", action="store_true", help="go fast")
    one.add_argument("path", help="where")
    page = gen_cli.render(parser)
    assert "| `--size` `SIZE` | how big &#124; how wide (default: `7`) |" in page
    assert "| `--fast` | go fast |" in page
    assert page.index("| `path` | where |") < page.index("`--size`")  # positionals first
    assert "| [`moola one`](#moola-one) | the one command |" in page


def test_the_api_pages_show_sphinx_roles_as_code() -> None:
    pytest.importorskip("griffe")  # the docs extra
    spec = importlib.util.spec_from_file_location("roles", ROOT / "docs" / "griffe_roles.py")
    assert spec is not None and spec.loader is not None
    roles = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(roles)
    text = "Calls :func:`~moola.verdict.judge_head` and :class:`moola.train.TrainConfig`::\n"
    assert roles.plain(text) == "Calls `judge_head` and `moola.train.TrainConfig`:\n"
