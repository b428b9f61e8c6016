"""The sweep's grid: parse ``--seeds``, ``--balancers`` and ``--set``, expand to named runs.

Every grid point becomes a validated :class:`~moola.train.TrainConfig` up front, so a typo
fails the sweep before any run starts. Run folder names are deterministic and readable: the
data set, the ``--set`` keys given several values (the axes), the balancer and the seed, e.g.
``synthetic__lr-0.001__trunknorm__seed0``. Settings shared by every run are recorded in
``sweep.json`` and in each run's config instead; rerunning the same sweep finds the same
folders, and a finished run with a different config in a folder is an error, never overwritten.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moola.balancing import BALANCERS
from moola.data.sources import REAL_SOURCES, is_market_source
from moola.errors import ConfigError
from moola.train.config import TrainConfig
from moola.train.fields import parse_assignment
from moola.train.fields import parse_value as parse_field_value
from moola.train.fields import settable_fields as all_fields

#: TrainConfig fields that the sweep owns, with the flag to use instead of ``--set``.
RESERVED_FIELDS = {
    "seed": "--seeds",
    "balancer": "--balancers",
    "data": "--data",
    "out_dir": "--out",
    "progress": "--no-progress",
}
#: Defaults of a sweep run that differ from ``moola train``'s: one torch thread per run
#: (the runs themselves are the parallelism) and no per-run progress bar.
SWEEP_DEFAULTS: dict[str, Any] = {"threads": 1, "progress": False}


@dataclass(frozen=True)
class RunSpec:
    """One grid point: its folder name, its coordinates and its full training config."""

    name: str
    data: str
    balancer: str
    seed: int
    settings: dict[str, Any]  # the --set overrides of this grid point
    config: dict[str, Any]  # TrainConfig.to_dict(), out_dir = the run's folder

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "data": self.data,
            "balancer": self.balancer,
            "seed": self.seed,
            "settings": self.settings,
        }


@dataclass(frozen=True)
class Grid:
    """The axes of a sweep; :meth:`expand` gives the runs in a fixed order."""

    data: tuple[str, ...]
    balancers: tuple[str, ...]
    seeds: tuple[int, ...]
    settings: dict[str, tuple[Any, ...]]  # --set key -> its values (an axis when several)

    def combinations(self) -> list[dict[str, Any]]:
        keys = sorted(self.settings)
        return [
            dict(zip(keys, values))
            for values in itertools.product(*(self.settings[k] for k in keys))
        ]

    def expand(self, out: str | Path) -> list[RunSpec]:
        """data × settings × balancers × seeds, each validated as a TrainConfig."""
        runs = []
        axes = {key for key, values in self.settings.items() if len(values) > 1}
        for data, settings, balancer, seed in itertools.product(
            self.data, self.combinations(), self.balancers, self.seeds
        ):
            name = run_name(data, {k: v for k, v in settings.items() if k in axes}, balancer, seed)
            config = TrainConfig(
                **{
                    **SWEEP_DEFAULTS,
                    **settings,
                    "data": data,
                    "balancer": balancer,
                    "seed": seed,
                    "out_dir": str(Path(out) / name),
                }
            )
            runs.append(RunSpec(name, data, balancer, seed, settings, config.to_dict()))
        names = [r.name for r in runs]
        if len(set(names)) != len(names):
            raise ConfigError("two grid points map to the same run folder; repeat no value")
        return runs

    def to_dict(self) -> dict[str, Any]:
        return {
            "data": list(self.data),
            "balancers": list(self.balancers),
            "seeds": list(self.seeds),
            "settings": {k: list(v) for k, v in self.settings.items()},
        }


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"0-4"``, ``"0,1,2"`` or a mix (``"0-2,7"``); order kept, duplicates dropped."""
    seeds: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if match is None:
            raise ConfigError(
                f"--seeds {text!r}: {part!r} is not a seed or a range; use e.g. 0-4 or 0,1,2"
            )
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) is not None else low
        if high < low:
            raise ConfigError(f"--seeds {text!r}: range {part!r} runs backwards")
        seeds.extend(s for s in range(low, high + 1) if s not in seeds)
    return tuple(seeds)


def parse_balancers(text: str) -> tuple[str, ...]:
    """Comma-separated balancer names, or ``all`` (every registered balancer)."""
    if text.strip() == "all":
        return tuple(BALANCERS)
    names: list[str] = []
    for name in (n.strip() for n in text.split(",")):
        if name not in BALANCERS:
            raise ConfigError(
                f"--balancers: unknown balancer {name!r}; valid: all, {', '.join(BALANCERS)}"
            )
        if name not in names:
            names.append(name)
    return tuple(names)


def parse_settings(items: list[str]) -> dict[str, tuple[Any, ...]]:
    """``["lr=1e-3", "lr=3e-3", "steps=200"]`` -> ``{"lr": (0.001, 0.003), "steps": (200,)}``.

    A key given several times becomes an axis of the grid. Values are parsed as
    ``moola train --set`` parses them (:func:`moola.train.fields.parse_value`).
    """
    settings: dict[str, list[Any]] = {}
    for item in items:
        key, text = parse_assignment(item)
        value = parse_value(key, text)
        values = settings.setdefault(key, [])
        if value not in values:
            values.append(value)
    return {k: tuple(v) for k, v in settings.items()}


def settable_fields() -> list[str]:
    return [name for name in all_fields() if name not in RESERVED_FIELDS]


def parse_value(key: str, text: str) -> Any:
    """Parse ``text`` for the TrainConfig field ``key``; the sweep's own fields are refused."""
    if key in RESERVED_FIELDS:
        raise ConfigError(
            f"--set {key}=...: the sweep sets {key} itself; use {RESERVED_FIELDS[key]}"
        )
    if key not in all_fields():
        raise ConfigError(
            f"--set {key}=...: unknown TrainConfig field {key!r}; valid keys: "
            f"{', '.join(settable_fields())}"
        )
    return parse_field_value(key, text)


def run_name(data: str, settings: dict[str, Any], balancer: str, seed: int) -> str:
    """Readable, deterministic, filesystem-safe: ``<data>__<key-value>...__<balancer>__seed<N>``
    (``settings`` holds only the grid's axes)."""
    parts = [_data_slug(data)]
    parts += [f"{key}-{_slug(_format(value))}" for key, value in sorted(settings.items())]
    parts += [balancer, f"seed{seed}"]
    return "__".join(parts)


def _format(value: Any) -> str:
    if isinstance(value, float):
        return format(value, "g")
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


def _slug(text: str, limit: int = 40) -> str:
    """Keep safe characters; anything lossy or long gets a short hash of the original."""
    safe = re.sub(r"[^A-Za-z0-9.+-]+", "_", text).strip("_") or "_"
    if safe == text and len(safe) <= limit:
        return safe
    return f"{safe[:limit]}-{_short_hash(text)}"


def _data_slug(data: str) -> str:
    if data == "synthetic":
        return data
    if data in REAL_SOURCES:  # a name, not a path: "backtesting:EURUSD" -> "backtesting-EURUSD"
        return data.replace(":", "-")
    if is_market_source(data):  # "synthetic:300000:7" -> "synthetic-300000-7"
        return _slug(data.replace(":", "-"))
    stem = Path(data.rstrip("/\\")).name or "data"
    return f"{_slug(stem)}-{_short_hash(data)}"


def _short_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
