"""What every command shares: the parser's shape, the one error-to-exit-code path, and the
progress bar."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any

from moola.errors import MoolaError

#: A command's handler: parsed arguments in, exit status out.
Handler = Callable[[argparse.Namespace], int]

#: Exit status of a command that failed on bad input or settings (a named error).
EXIT_ERROR = 2
#: Exit status after Ctrl-C.
EXIT_INTERRUPTED = 130


def add_command(
    sub: Any, name: str, handler: Handler, *, help: str, description: str | None = None
) -> argparse.ArgumentParser:
    """A subcommand whose help reads as plain text and whose handler :func:`run` calls."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=help, description=description or help[:1].upper() + help[1:] + "."
    )
    parser.set_defaults(func=handler)
    return parser


def run(command: str, handler: Handler, args: argparse.Namespace) -> int:
    """Run a command's handler: a :class:`~moola.errors.MoolaError` is one line on stderr
    and exit status 2, Ctrl-C is exit status 130; anything else is a bug and propagates."""
    try:
        return handler(args)
    except MoolaError as exc:
        print(f"moola {command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def say(command: str, message: str) -> None:
    """A status line on stderr, prefixed with the command (stdout stays for results)."""
    print(f"moola {command}: {message}", file=sys.stderr)


@contextlib.contextmanager
def progress_bar(total: int, completed: int, *, enabled: bool) -> Iterator[Any]:
    """A rich progress bar fed by the trainer's log callback; None when disabled or without rich."""
    try:
        from rich.progress import Progress

        from moola.report import train_progress_columns
    except ImportError:
        enabled = False
    if not enabled:
        yield None
        return
    columns = train_progress_columns(total)  # step count and time left survive 80 columns
    with Progress(*columns, transient=False, expand=True) as progress:
        bar = progress.add_task("train", total=total, completed=completed, losses="")

        def update(step: int, losses: dict[str, float]) -> None:
            text = " ".join(f"{k} {v:.4g}" for k, v in losses.items())
            progress.update(bar, completed=step, losses=text)

        yield update
