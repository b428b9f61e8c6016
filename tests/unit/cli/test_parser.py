"""The parsers themselves: no flag abbreviations, an unknown flag named by its own command's
usage with the closest flag, and a start that imports no torch."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import pytest

from moola.cli import COMMANDS, build_parser, main

SRC = Path(__file__).resolve().parents[3] / "src"


def fails_with_usage(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err


def test_every_parser_refuses_abbreviations() -> None:
    from moola.cli.common import command_parser

    parser = build_parser()
    assert parser.allow_abbrev is False
    for command in COMMANDS:
        name = command.__name__.rsplit(".", 1)[-1]
        assert command_parser(parser, name).allow_abbrev is False, name


def test_an_abbreviated_flag_is_not_taken_for_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """argparse's default took ``--step 5`` as ``--steps 5`` and trained."""
    monkeypatch.chdir(tmp_path)
    err = fails_with_usage(["train", "--step", "5", "--out", str(tmp_path / "r")], capsys)
    assert "usage: moola train" in err
    assert "unrecognized arguments: --step 5" in err and "did you mean --steps?" in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("argv", "usage", "suggestion"),
    [
        (["train", "--stesp", "5"], "usage: moola train", "--stesp: did you mean --steps?"),
        (["train", "--stesp=5"], "usage: moola train", "--stesp: did you mean --steps?"),
        (
            ["predict", "RUN", "--data", "d", "--out", "o.parquet", "--wieghts", "final"],
            "usage: moola predict",
            "--wieghts: did you mean --weights?",
        ),
        (["league", "DIR", "--ot", "x"], "usage: moola league", "unrecognized arguments: --ot x"),
    ],
)
def test_an_unknown_flag_shows_the_commands_usage_and_the_closest_flag(
    argv: list[str], usage: str, suggestion: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """argparse reported a subcommand's unknown flags with the top-level usage, no hint."""
    err = fails_with_usage(argv, capsys)
    assert usage in err and suggestion in err
    assert "usage: moola [-h]" not in err


def test_a_bad_value_still_names_its_command(capsys: pytest.CaptureFixture[str]) -> None:
    err = fails_with_usage(["train", "--steps", "many"], capsys)
    assert "usage: moola train" in err and "--steps" in err


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"], ["predict", "--help"]])
def test_help_imports_no_torch(argv: list[str]) -> None:
    """The help of every command is built without torch (a start of seconds otherwise)."""
    code = (
        "import sys\n"
        "from moola.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] == 'torch')\n"
        "print('TORCH' if heavy else 'NO TORCH')\n"
    )
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
        check=True,
    )
    assert done.stdout.strip().endswith("NO TORCH"), done.stdout[-300:]
    assert time.perf_counter() - started < 30  # generous: a shared machine; seconds on main


def test_the_parser_class_is_the_moola_parser() -> None:
    from moola.cli.common import command_parser

    sub = command_parser(build_parser(), "train")
    assert isinstance(sub, argparse.ArgumentParser) and sub.prog == "moola train"
