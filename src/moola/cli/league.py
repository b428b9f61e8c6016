"""``moola league``: rebuild a sweep's league table from its finished runs and print it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from moola.cli.common import add_command


def add_parser(sub: Any) -> None:
    parser = add_command(
        sub, "league", run, help="rebuild a sweep's league table from its finished runs"
    )
    parser.add_argument("dir", help="the sweep's --out folder")


def run(args: argparse.Namespace) -> int:
    print_league(Path(args.dir))
    return 0


def print_league(directory: Path) -> None:
    """Write the league files of ``directory`` and print its table."""
    from moola.report import print_table
    from moola.sweep.league import league_rows, write_league

    league = write_league(directory)
    header, rows = league_rows(league)
    print_table(f"moola league — {league['runs']} finished runs in {directory}", header, rows)
    drawn = (directory / "league.png").is_file()
    why = (
        "no finished run" if not league["runs"] else "install matplotlib: pip install 'moola[plot]'"
    )
    png = ", league.png" if drawn else f" (no league.png: {why})"
    print(f"wrote {directory / 'league.md'}, league.json{png}", file=sys.stderr)
