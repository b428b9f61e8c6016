"""What every command shares: the parser's shape, the one error-to-exit-code path, and the
progress bar."""

from __future__ import annotations

import argparse
import contextlib
import difflib
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


class Parser(argparse.ArgumentParser):
    """Every moola parser: no flag abbreviations (``--step 5`` is not ``--steps 5``: a typo
    must fail, not pick a flag), and an unknown flag named by its own command's usage with
    the closest flags (:func:`reject_unknown`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)


def command_parser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    """The parser of the command ``name`` under ``parser``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found: argparse.ArgumentParser = action.choices[name]
            return found
    raise KeyError(name)


def closest_flags(parser: argparse.ArgumentParser, flag: str) -> list[str]:
    """The parser's flags nearest ``flag`` (a typo) or starting with it (an abbreviation)."""
    options = [o for action in parser._actions for o in action.option_strings if o.startswith("--")]
    longer = [o for o in options if o.startswith(flag) and o != flag]
    return longer or difflib.get_close_matches(flag, options, n=1, cutoff=0.6)


def reject_unknown(parser: argparse.ArgumentParser, extras: list[str]) -> None:
    """Exit with ``parser``'s usage (the command's, not the top level's, which is where
    argparse reports a subcommand's unknown arguments) naming ``extras`` and, for each
    unknown flag, the closest of the command's flags."""
    hints = []
    for item in extras:
        flag = item.split("=", 1)[0]
        if flag.startswith("-"):
            near = closest_flags(parser, flag)
            if near:
                hints.append(f"{flag}: did you mean {' or '.join(near)}?")
    message = f"unrecognized arguments: {' '.join(extras)}"
    parser.error(message + (f" ({'; '.join(hints)})" if hints else ""))


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
