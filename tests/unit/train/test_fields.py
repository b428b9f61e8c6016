"""moola train's flags come from TrainConfig's fields: one flag per scalar field, each with
help and its default, and --set for every field, parsed as the sweep parses it."""

from __future__ import annotations

import argparse
from dataclasses import fields

import pytest

from moola.cli import build_parser, main
from moola.errors import ConfigError
from moola.train import TrainConfig
from moola.train.fields import add_train_flags, flag_name, is_flag, parse_value, train_overrides


def train_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(  # wide: one line per flag, so the test reads it whole
        prog="moola train",
        formatter_class=lambda prog: argparse.HelpFormatter(
            prog, width=10_000, max_help_position=100
        ),
    )
    add_train_flags(parser)
    return parser


def test_every_field_has_help_and_every_scalar_field_a_flag_showing_its_default() -> None:
    text = train_parser().format_help()
    defaults = TrainConfig()
    for f in fields(TrainConfig):
        assert f.metadata.get("help"), f"TrainConfig.{f.name} has no help"
        if is_flag(f):
            line = next(line for line in text.splitlines() if line.strip().startswith(flag_name(f)))
            assert "(default: " in line, line
    # the defaults shown are TrainConfig's, not a copy in the parser
    assert f"(default: {defaults.steps})" in text and f"(default: {defaults.lr:g})" in text
    assert "backtesting:NAME" in text  # the --data help names every kind of source


def test_only_given_flags_override() -> None:
    args = train_parser().parse_args(["--steps", "7", "--grad-clip", "0", "--no-progress"])
    assert train_overrides(args) == {"steps": 7, "grad_clip": None, "progress": False}
    assert train_overrides(train_parser().parse_args([])) == {}


def test_set_covers_dict_fields_and_refuses_a_key_given_twice() -> None:
    args = train_parser().parse_args(["--set", 'model={"hidden_size": 16}', "--set", "lr=0.01"])
    assert train_overrides(args) == {"model": {"hidden_size": 16}, "lr": 0.01}
    args = train_parser().parse_args(["--steps", "3", "--set", "steps=4"])
    with pytest.raises(ConfigError, match="also given as --steps"):
        train_overrides(args)


def test_a_bad_flag_value_is_an_argparse_error_naming_the_type(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["train", "--steps", "many"])
    assert info.value.code == 2
    assert "expected an integer" in capsys.readouterr().err


def test_parse_value_names_unknown_keys_and_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown TrainConfig field 'nope'; valid keys: .*steps"):
        parse_value("nope", "1")
    assert parse_value("threads", "none") is None


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from moola import __version__

    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"moola {__version__}"
