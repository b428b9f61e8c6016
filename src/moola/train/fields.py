"""TrainConfig's fields as settings: parsed from text and turned into ``moola train`` flags.

One source of truth for every way a user sets a field: ``moola train``'s flags (generated
here from the fields, with their help and defaults), ``moola train --set`` and
``moola sweep --set`` (both parse with :func:`parse_value`).
"""

from __future__ import annotations

import argparse
import json
import types
from collections.abc import Collection, Mapping
from dataclasses import MISSING, Field, fields
from typing import Any, Union, get_args, get_origin, get_type_hints

from moola.data.sources import POOL_SEPARATOR
from moola.errors import ConfigError
from moola.train.config import TrainConfig


def settable_fields() -> list[str]:
    return sorted(f.name for f in fields(TrainConfig))


def parse_assignment(item: str, option: str = "--set") -> tuple[str, str]:
    """``"lr=1e-3"`` -> ``("lr", "1e-3")``; anything without a key and ``=`` is an error."""
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"{option} {item!r}: expected KEY=VALUE")
    return key, text.strip()


def parse_value(key: str, text: str, option: str = "--set") -> Any:
    """Parse ``text`` for the TrainConfig field ``key`` by its type (int, float, bool, str,
    ``none`` for optional fields, JSON for dicts); errors name the field and its type."""
    hints = get_type_hints(TrainConfig)
    if key not in hints or key not in {f.name for f in fields(TrainConfig)}:
        raise ConfigError(
            f"{option} {key}=...: unknown TrainConfig field {key!r}; valid keys: "
            f"{', '.join(settable_fields())}"
        )
    optional, base = _unwrap_optional(hints[key])
    if optional and text.lower() in ("none", "null"):
        return None
    expected = _describe(base) + (" or none" if optional else "")
    try:
        return _parse_as(base, text)
    except (ValueError, TypeError):
        raise ConfigError(f"{option} {key}={text!r}: expected {expected}") from None


def parse_assignments(items: list[str], option: str = "--set") -> dict[str, Any]:
    """``["lr=1e-3", "model={...}"]`` -> overrides; a key given twice is an error."""
    values: dict[str, Any] = {}
    for item in items:
        key, text = parse_assignment(item, option)
        if key in values:
            raise ConfigError(f"{option} {key}: given twice")
        values[key] = parse_value(key, text, option)
    return values


# ---------------------------------------------------------------------- flags
def flag_name(f: Field[Any]) -> str:
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def is_flag(f: Field[Any]) -> bool:
    return bool(f.metadata.get("cli", True))


def add_train_flags(
    parser: argparse.ArgumentParser,
    *,
    only: Collection[str] | None = None,
    defaults: Mapping[str, Any] | None = None,
    helps: Mapping[str, str] | None = None,
) -> None:
    """One flag per TrainConfig field (dict fields: ``--set``), help and default from the
    field. A flag not given leaves no attribute (``argparse.SUPPRESS``), so that only flags
    given override (a resumed run keeps its recorded settings, and ``--grad-clip 0`` can
    still mean None). Another command (``moola pretrain``) may take ``only`` some fields,
    with its own ``defaults`` and ``helps`` shown."""
    hints = get_type_hints(TrainConfig)
    for f in fields(TrainConfig):
        if not is_flag(f) or (only is not None and f.name not in only):
            continue
        default = (defaults or {}).get(f.name, field_default(f))
        help_text = (helps or {}).get(f.name, f.metadata.get("help", ""))
        _, base = _unwrap_optional(hints[f.name])
        if base is bool:
            stored = default is not True  # --graph stores True; --no-progress stores False
            parser.add_argument(
                flag_name(f),
                dest=f.name,
                action="store_const",
                const=stored,
                default=argparse.SUPPRESS,
                help=f"{help_text} (default: {'on' if default else 'off'})",
            )
            continue
        parser.add_argument(
            flag_name(f),
            dest=f.name,
            type=_converter(f.name, flag_name(f), f.metadata.get("zero_means_none", False)),
            action="append" if f.metadata.get("repeat_joins") else "store",
            default=argparse.SUPPRESS,
            metavar=_metavar(base),
            help=f"{help_text} (default: {_show(default)})",
        )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set any TrainConfig field, dict fields as JSON (e.g. --set 'model={\"hidden_size\": 32}')",
    )


def field_default(f: Field[Any]) -> Any:
    """A field's default, read without making (and validating) a config: validation checks
    the device, which imports torch, and the help must not."""
    if f.default_factory is not MISSING:
        return f.default_factory()
    return f.default


def train_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The TrainConfig values given on the command line (flags, then ``--set``)."""
    given = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}
    for f in fields(TrainConfig):
        joiner = f.metadata.get("repeat_joins")
        if joiner and f.name in given:  # a repeatable flag: --data A --data B -> "A|B"
            given[f.name] = joiner.join(dict.fromkeys(given[f.name]))
    for key, value in parse_assignments(args.set).items():
        if key in given:
            raise ConfigError(f"--set {key}: also given as {flag_name(_field(key))}; give it once")
        given[key] = value
    return given


#: Settings that walk-forward folds do not use: what to say when one is given with --folds.
NOT_FOR_FOLDS = {
    "checkpoint_every": "every fold trains afresh and writes no checkpoint",
    "telemetry_every": "fold runs record no telemetry (folds.json holds the verdicts only)",
}
#: Settings of the synthetic market only.
SYNTHETIC_ONLY = ("n_windows", "data_seed")


def check_init_not_resumed(given: dict[str, Any], *, resuming: bool) -> None:
    """``--init`` starts a run and ``--resume`` continues one (``moola train`` and
    ``moola pretrain``): both at once is refused by name."""
    if resuming and "init" in given:
        raise ConfigError(
            "--init starts a new run from weights and --resume continues a run from its "
            "checkpoint: give one of them"
        )


def check_given(given: dict[str, Any], *, resuming: bool = False) -> None:
    """Refuse a setting given on the command line that the run would not use, rather than
    record it in ``metrics.json`` as if it had been: ``--init`` with ``--resume``, the
    synthetic market's settings with data that has no synthetic part, and the settings
    walk-forward folds do not use."""
    check_init_not_resumed(given, resuming=resuming)
    data = str(given.get("data", field_default(_field("data"))))
    synthetic = any(part.strip().lower() == "synthetic" for part in data.split(POOL_SEPARATOR))
    for key in SYNTHETIC_ONLY:
        if key in given and not synthetic and not resuming:
            raise ConfigError(
                f"{flag_name(_field(key))} sets the synthetic market, but --data {data} has no "
                f"synthetic part; drop {flag_name(_field(key))}"
            )
    if given.get("folds"):
        for key, why in NOT_FOR_FOLDS.items():
            if given.get(key):
                raise ConfigError(
                    f"{flag_name(_field(key))} does not apply to --folds ({why}); drop it"
                )


def _field(name: str) -> Field[Any]:
    return next(f for f in fields(TrainConfig) if f.name == name)


def _converter(name: str, flag: str, zero_means_none: bool) -> Any:
    def convert(text: str) -> Any:
        try:
            value = parse_value(name, text, option=flag)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix(f"{flag} ")) from None
        return None if zero_means_none and value == 0 else value

    convert.__name__ = name  # argparse names the type in its error messages
    return convert


def _metavar(base: Any) -> str:
    return {int: "N", float: "X", str: "TEXT"}.get(base, "VALUE")


def _show(value: Any) -> str:
    return (
        "none" if value is None else format(value, "g") if isinstance(value, float) else str(value)
    )


# ---------------------------------------------------------------------- types
def _unwrap_optional(hint: Any) -> tuple[bool, Any]:
    if get_origin(hint) in (Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return len(args) < len(get_args(hint)), args[0]
    return False, hint


def _parse_as(base: Any, text: str) -> Any:
    if base is bool:
        lowered = text.lower()
        if lowered in ("true", "yes", "1", "on"):
            return True
        if lowered in ("false", "no", "0", "off"):
            return False
        raise ValueError(text)
    if base is int:
        return int(text)
    if base is float:
        return float(text)
    if base is str:
        return text
    if get_origin(base) is dict:
        value = json.loads(text)
        if not isinstance(value, dict):
            raise TypeError(text)
        return value
    raise TypeError(f"unsupported field type {base!r}")


def _describe(base: Any) -> str:
    if get_origin(base) is dict:
        return 'a JSON object (e.g. {"hidden_size": 32})'
    if base is bool:
        return "true or false"
    return {int: "an integer", float: "a number", str: "a string"}.get(base, str(base))
