"""The moola command line: one module per command, each parsing and printing only.

Commands: train (the main job), pretrain, diagnose, label, sweep, league, predict, export and serve. Every
bad input is a moola error, printed as one line with exit status 2 (common.run).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from moola import __version__
from moola.cli import diagnose, export, label, league, predict, pretrain, serve, sweep, train
from moola.cli.common import Parser, command_parser, reject_unknown, run

#: The commands in the order ``moola --help`` lists them.
COMMANDS = (train, pretrain, diagnose, label, sweep, league, predict, export, serve)

DESCRIPTION = """\
moola: JadeCompact, a multi-task BiLSTM for 105-bar OHLC windows, with measured loss
balancing and an honest verdict per head.

  moola train                 train on built-in synthetic data
  moola pretrain --data BARS.csv, then moola train --init runs/pretrain
  moola label BARS.csv --out W.parquet, then moola train --data W.parquet
  moola predict RUN --data BARS.csv --out P.parquet

moola COMMAND --help describes each command."""


def build_parser() -> argparse.ArgumentParser:
    """The commands and their flags; ``moola train``'s come from TrainConfig's fields."""
    parser = Parser(
        prog="moola", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"moola {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        reject_unknown(command_parser(parser, args.command), extras)
    return run(args.command, args.func, args)


if __name__ == "__main__":
    raise SystemExit(main())
