"""Every code example of the README and of the documentation site runs (issue 30): no
example can import a name that does not exist, or show a command or flag that the parser
does not have.

- ``python`` blocks run in order, page by page, in one namespace, in a fresh folder that
  holds what the guide creates (``bars.csv``, ``windows.parquet``, a tiny ``runs/mine``);
- shell blocks: every ``moola ...`` command is parsed by the real parser; a block marked
  ``<!-- run -->`` is executed command by command;
- a ``python`` block marked ``<!-- run: pytest ARGS -->`` is a test file, run by pytest
  through moola's plugin;
- ``<!-- run-in: FILE -->``: FILE runs the block, where what it needs exists anyway (the
  ONNX examples, in the test module that exports a model);
- ``<!-- not-run: REASON -->`` blocks are counted per page (:data:`NOT_RUN`); a python one
  still compiles and imports only names that exist.

Training in the examples runs tiny, whatever the example asks for (:func:`tiny_training`):
the examples show real settings, the test checks that they work, not how well.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib
import importlib.util
import io
import shutil
from pathlib import Path
from typing import Any

import pytest

import moola.train.run
from moola.cli import build_parser, main
from moola.data import label_file, save_parquet
from tests.unit.docs.markdown import ROOT, SHELL, Block, all_blocks, commands, moola_args
from tests.unit.docs.sandbox import TINY, TINY_STEPS, run_python, tiny_training, write_bars

BLOCKS = all_blocks()

#: Blocks that cannot run here, per page; pinned, so that the number cannot grow silently.
NOT_RUN: dict[str, int] = {
    "README.md": 1,  # moola serve: a server that runs until stopped
    "docs/getting-started.md": 1,  # the same
    "docs/serve.md": 1,  # the same
}

#: Commands that the docs describe and that are being built on other branches: parsed once
#: they exist. Remove an entry when its command lands (a test fails until then).
PENDING_COMMANDS: set[str] = set()

# -p no:moola: the installed entry point (when present) steps aside, so this works with it or not.
PLUGIN = ("-p", "no:moola", "-p", "moola.testing.plugin", "-p", "no:cacheprovider")


def _runs_here(block: Block) -> bool:
    """A python example (not a test file, not run elsewhere or not at all), or a shell block
    marked ``<!-- run -->``."""
    if block.lang in SHELL:
        return block.marker == "run"
    return block.lang == "python" and (block.marker is None)


def _pages_that_run() -> list[str]:
    pages = []
    for block in BLOCKS:
        runs = _runs_here(block)
        if runs and block.page not in pages:
            pages.append(block.page)
    return pages


@pytest.fixture(scope="session")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the getting-started guide leaves behind: bars.csv, windows.parquet, runs/mine."""
    folder = tmp_path_factory.mktemp("docs-prepared")
    write_bars(folder / "bars.csv")
    save_parquet(label_file(folder / "bars.csv"), folder / "windows.parquet")
    config = {**TINY, "steps": TINY_STEPS, "data": str(folder / "windows.parquet")}
    moola.train.run.run_training({**config, "out_dir": str(folder / "runs" / "mine")})
    return folder


def run_shell(block: Block) -> None:
    for command in commands(block.code):
        args = moola_args(command)
        assert args is not None, f"{block.id}: a <!-- run --> block runs moola only: {command}"
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            status = main(args)
        assert status == 0, f"{block.id}: moola {' '.join(args)} exited {status}\n{out.getvalue()}"


@pytest.mark.parametrize("page", _pages_that_run())
def test_the_page_examples_run(
    page: str, prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(prepared, tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "__docs_example__"}
    with tiny_training(monkeypatch):
        for block in (b for b in BLOCKS if b.page == page and _runs_here(b)):
            if block.lang == "python":
                run_python([block], namespace)
            else:
                run_shell(block)


PYTEST_BLOCKS = [b for b in BLOCKS if b.lang == "python" and b.pytest_args is not None]


@pytest.mark.parametrize("block", PYTEST_BLOCKS, ids=[b.id for b in PYTEST_BLOCKS])
def test_the_example_test_files_pass(block: Block, pytester: pytest.Pytester) -> None:
    assert block.pytest_args is not None
    pytester.makepyfile(test_docs_example=block.code)
    result = pytester.runpytest_inprocess(*PLUGIN, *block.pytest_args)
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) >= 1 and set(outcomes) <= {
        "passed",
        "snapshot",
        "snapshots",
    }, f"{block.id}: {outcomes}\n{result.stdout.str()}"


SHELL_BLOCKS = [b for b in BLOCKS if b.lang in SHELL]


def _parse(parser: argparse.ArgumentParser, args: list[str]) -> str | None:
    """None when ``moola ARGS`` parses, else argparse's complaint."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            parser.parse_args(args)
    except SystemExit as exc:
        if exc.code not in (0, None):  # --help and --version exit 0
            return err.getvalue().strip().splitlines()[-1]
    return None


@pytest.mark.parametrize("block", SHELL_BLOCKS, ids=[b.id for b in SHELL_BLOCKS])
def test_every_moola_command_parses(block: Block) -> None:
    parser = build_parser()
    for command in commands(block.code):
        args = moola_args(command)
        if args is None or (args[:1] and args[0] in PENDING_COMMANDS):
            continue
        problem = _parse(parser, args)
        assert problem is None, f"{block.id}: moola {' '.join(args)}: {problem}"


def test_the_pending_commands_are_not_in_the_parser_yet() -> None:
    """When a pending command lands, its examples must be parsed: drop it from the set."""
    parser = build_parser()
    (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    landed = PENDING_COMMANDS & set(sub.choices)
    assert not landed, f"moola {sorted(landed)} exists now: remove it from PENDING_COMMANDS"


def test_the_not_run_blocks_are_counted() -> None:
    counted: dict[str, int] = {}
    for block in BLOCKS:
        if block.not_run:
            counted[block.page] = counted.get(block.page, 0) + 1
            assert block.marker is not None and len(block.marker) > len("not-run: "), (
                f"{block.id}: say why it is not run"
            )
    assert counted == NOT_RUN


def test_the_python_not_run_compiles_and_imports_what_exists() -> None:
    for block in (b for b in BLOCKS if b.lang == "python" and b.not_run):
        _imports_exist(block)


def _imports_exist(block: Block) -> None:
    for node in ast.walk(ast.parse(block.code, block.id)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                importlib.import_module(alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module:
            module = importlib.import_module(node.module)
            is_package = hasattr(module, "__path__")
            for alias in node.names:
                submodule = is_package and importlib.util.find_spec(f"{node.module}.{alias.name}")
                assert hasattr(module, alias.name) or submodule, (
                    f"{block.id}: {node.module} has no {alias.name}"
                )


def test_the_import_check_catches_a_name_that_does_not_exist() -> None:
    """The README's ONNX example once imported read_series from moola.data.labeling."""
    _imports_exist(Block("README.md", 1, "python", "from moola.data import read_series\n", None))
    bad = Block("README.md", 1, "python", "from moola.data.labeling import read_series\n", None)
    with pytest.raises(AssertionError, match=r"moola\.data\.labeling has no read_series"):
        _imports_exist(bad)


def _known(marker: str) -> bool:
    return marker == "run" or marker.startswith(("run: pytest", "not-run: ", "run-in: "))


RUN_ELSEWHERE = [b for b in BLOCKS if b.run_in is not None]


@pytest.mark.parametrize("block", RUN_ELSEWHERE, ids=[b.id for b in RUN_ELSEWHERE])
def test_the_examples_run_elsewhere_are_run_there(block: Block) -> None:
    """``<!-- run-in: FILE -->``: FILE runs the page's examples (it names the page)."""
    assert block.run_in is not None
    runner = ROOT / block.run_in
    assert runner.is_file(), f"{block.id}: no {block.run_in}"
    assert block.page in runner.read_text(encoding="utf-8"), f"{block.run_in} runs no {block.page}"


def test_every_marker_is_known() -> None:
    unknown = [f"{b.id}: <!-- {b.marker} -->" for b in BLOCKS if b.marker and not _known(b.marker)]
    assert not unknown, "a comment right above a code block must be a marker this test knows"
    run_on_python = [b.id for b in BLOCKS if b.marker == "run" and b.lang not in SHELL]
    assert not run_on_python, "<!-- run --> is for shell blocks (python blocks run anyway)"


def test_the_examples_are_where_this_test_expects_them() -> None:
    """The collection is not empty by accident: the guide runs label, train and predict, and
    the README has python and shell examples."""
    guide = [
        c
        for b in BLOCKS
        if b.page == "docs/getting-started.md" and b.marker == "run"
        for c in commands(b.code)
    ]
    assert [c[1] for c in guide][:3] == ["label", "train", "predict"]
    assert {b.lang for b in BLOCKS if b.page == "README.md"} >= {"python", "bash"}
    assert PYTEST_BLOCKS and len(_pages_that_run()) >= 5
