"""The CLI reference page, rendered from the real argparse parsers at build time, so that it
cannot drift from ``moola COMMAND --help`` (the docs hook calls :func:`render`)."""

from __future__ import annotations

import argparse
import html
from collections.abc import Iterator


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The parser's commands, in the order ``moola --help`` lists them."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices.items())
    return {}


def flags(parser: argparse.ArgumentParser) -> Iterator[argparse.Action]:
    """Every argument a command takes, positionals first, without ``--help``."""
    actions = [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]
    yield from (a for a in actions if not a.option_strings)
    yield from (a for a in actions if a.option_strings)


def _cell(text: str) -> str:
    """Text for a markdown table cell: escaped, one line, pipes kept out of the table."""
    return html.escape(" ".join(text.split()), quote=False).replace("|", "&#124;")


def _default(action: argparse.Action) -> str:
    """The default, where the help does not state it already (moola's helps mostly do)."""
    help_text = action.help or ""
    if "default" in help_text or action.default in (None, argparse.SUPPRESS, False, []):
        return ""
    if isinstance(action, argparse._StoreTrueAction | argparse._VersionAction):
        return ""
    return f" (default: `{action.default}`)"


def _name(action: argparse.Action) -> str:
    if not action.option_strings:
        return f"`{action.metavar or action.dest}`"
    names = ", ".join(f"`{option}`" for option in action.option_strings)
    if action.nargs == 0:
        return names
    metavar = action.metavar
    if metavar is None:
        choices = action.choices
        metavar = "{" + ",".join(map(str, choices)) + "}" if choices else action.dest.upper()
    return f"{names} `{metavar}`"


def _usage(parser: argparse.ArgumentParser) -> str:
    usage = parser.format_usage().removeprefix("usage: ").strip()
    return " ".join(usage.split())


def render_command(name: str, parser: argparse.ArgumentParser) -> str:
    """One command's section: its usage, description and a table of every argument."""
    lines = [f"## `moola {name}`", "", "```text", _usage(parser), "```", ""]
    if parser.description:
        lines += [" ".join(parser.description.split()), ""]
    lines += ["| argument | help |", "|---|---|"]
    for action in flags(parser):
        suffix = " (required)" if action.required and action.option_strings else ""
        lines.append(f"| {_name(action)}{suffix} | {_cell(action.help or '')}{_default(action)} |")
    return "\n".join(lines) + "\n"


def render(parser: argparse.ArgumentParser | None = None) -> str:
    """The whole reference: ``moola --help``'s summary, then every command."""
    if parser is None:
        from moola.cli import build_parser

        parser = build_parser()
    commands = subcommands(parser)
    lines = [
        "Generated from `moola.cli.build_parser()` when the site is built: it is what "
        "`moola COMMAND --help` prints. A bad value is one line, `moola COMMAND: error: ...`, "
        "and exit status 2.",
        "",
        "| command | what it does |",
        "|---|---|",
    ]
    helps = {a.dest: a.help for a in _choices_actions(parser)}
    for name in commands:
        lines.append(f"| [`moola {name}`](#moola-{name}) | {_cell(helps.get(name) or '')} |")
    lines += ["", "`moola --version` prints the version.", ""]
    body = "\n".join(lines) + "\n"
    return body + "\n".join(render_command(name, sub) for name, sub in commands.items())


def _choices_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action._choices_actions)
    return []
