"""Where a run's windows come from: ``synthetic``, ``backtesting:NAME``, a windows file or
folder, or a raw series (a bar file or the market ``synthetic:BARS[:seed]``) labelled by
:mod:`moola.data.labeling`. All knowledge of the ``backtesting`` package lives here.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from moola.data.files import BARS_CSV, LABELS_CSV, load_csv, load_parquet, read_series
from moola.data.labeling import LabelRule, check_series, label_series
from moola.data.market import generate_market
from moola.data.pooled import pool_windows
from moola.data.synthetic import SyntheticConfig, generate_synthetic
from moola.data.windows import DEFAULT_WINDOW, OHLCWindows
from moola.errors import ConfigError, DataValidationError

#: Joins several sources into one pooled dataset (``moola train --data A --data B``).
POOL_SEPARATOR = "|"

#: Real bar files shipped by the ``backtesting`` package (AGPL-3.0: read at run time, never copied).
BACKTESTING_FILES = {"EURUSD": "EURUSD.csv", "GOOG": "GOOG.csv"}


#: The realistic synthetic market (:mod:`moola.data.market`) as a bar series:
#: ``synthetic:BARS[:seed]`` (seed 0 when not given). Plain ``synthetic`` stays the labelled
#: windows of :mod:`moola.data.synthetic`.
MARKET_PREFIX = "synthetic:"
MARKET_FORMAT = "synthetic:BARS[:seed], e.g. synthetic:300000 or synthetic:300000:7"
_WHOLE = re.compile(r"[0-9]+")


def is_market_source(source: object) -> bool:
    """Whether ``source`` names the synthetic market (``synthetic:...``), even a malformed one."""
    return isinstance(source, str) and source.strip().lower().startswith(MARKET_PREFIX)


def parse_market_source(source: str, *, window: int = DEFAULT_WINDOW) -> tuple[int, int]:
    """``(n_bars, seed)`` of ``synthetic:BARS[:seed]``; a named one-line error otherwise."""
    text = source.strip()
    parts = text[len(MARKET_PREFIX) :].split(":")
    if len(parts) > 2:
        raise DataValidationError(f"{text!r}: too many parts; expected {MARKET_FORMAT}")
    if not _WHOLE.fullmatch(parts[0]) or int(parts[0]) < 1:
        raise DataValidationError(
            f"{text!r}: BARS must be a whole number of bars >= 1, got {parts[0]!r}; "
            f"expected {MARKET_FORMAT}"
        )
    if len(parts) == 2 and not _WHOLE.fullmatch(parts[1]):
        raise DataValidationError(
            f"{text!r}: the seed must be a whole number >= 0, got {parts[1]!r}; "
            f"expected {MARKET_FORMAT}"
        )
    n_bars, seed = int(parts[0]), int(parts[1]) if len(parts) == 2 else 0
    if n_bars < window:
        raise DataValidationError(
            f"{text!r}: has {n_bars} bars, fewer than one {window}-bar window"
        )
    if seed >= 2**63:
        raise DataValidationError(f"{text!r}: the seed must be below 2**63, got {seed}")
    return n_bars, seed


def read_bars(source: str | os.PathLike[str], *, window: int = DEFAULT_WINDOW) -> np.ndarray:
    """The raw (T, 4) [open, high, low, close] bars of a series source: a bar file (CSV or
    parquet, as ``moola label`` reads it) or ``synthetic:BARS[:seed]``; checked, and at
    least one ``window`` long. What learning from unlabelled bars reads."""
    if is_market_source(source):
        n_bars, seed = parse_market_source(str(source), window=window)
        try:
            return generate_market(n_bars, seed)  # valid by construction (tests/unit/data)
        except MemoryError:
            raise DataValidationError(
                f"{str(source).strip()!r}: {n_bars} bars need {n_bars * 32 / 2**30:.1f} GiB "
                "of memory, more than this machine has; ask for fewer bars"
            ) from None
    return check_series(read_series(source), window=window, source=str(source))


def label_file(path: str | os.PathLike[str], rule: LabelRule | None = None) -> OHLCWindows:
    """``read_bars`` then ``label_series``; errors name the file (or the market source)."""
    rule = rule or LabelRule()
    series = read_bars(path, window=rule.window)
    try:
        return label_series(series, rule)
    except DataValidationError as exc:
        raise DataValidationError(f"{path}: {exc}") from None


def backtesting_series_path(name: str) -> Path | None:
    """Path of a bar file shipped by the installed ``backtesting`` package (None without it).

    Found through the import system without importing ``backtesting`` (which imports bokeh).
    The files are AGPL-3.0: they are read where they are installed and never copied here.
    """
    if name not in BACKTESTING_FILES:
        raise ConfigError(f"unknown series {name!r}; choose one of {sorted(BACKTESTING_FILES)}")
    spec = importlib.util.find_spec("backtesting")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = Path(location) / "test" / BACKTESTING_FILES[name]
        if path.is_file():
            return path
    return None


#: Real bar series shipped by the ``backtesting`` package, usable as ``--data backtesting:NAME``.
REAL_PREFIX = "backtesting:"
REAL_SOURCES = tuple(f"{REAL_PREFIX}{name}" for name in BACKTESTING_FILES)


def real_series_path(source: str) -> Path:
    """The bar file of ``backtesting:NAME``; named errors for an unknown name or a missing
    package."""
    name = source[len(REAL_PREFIX) :]
    if name not in BACKTESTING_FILES:
        raise DataValidationError(
            f"unknown real series {source!r}; choose one of {', '.join(REAL_SOURCES)}"
        )
    path = backtesting_series_path(name)
    if path is None:
        raise DataValidationError(
            f"{source} needs the 'backtesting' package, which ships the bars: "
            "pip install backtesting"
        )
    return path


def load_real_series(
    source: str, *, window: int = DEFAULT_WINDOW, stride: int | None = None
) -> OHLCWindows:
    """``backtesting:EURUSD`` (5000 hourly bars) or ``backtesting:GOOG`` (2148 daily bars), cut
    every ``stride`` bars (default: ``moola label``'s) and labelled by the default
    :class:`~moola.data.labeling.LabelRule`. The files are read where ``pip install
    backtesting`` put them (AGPL-3.0, never copied into moola)."""
    return label_file(real_series_path(source), label_rule(window, stride))


def label_rule(window: int = DEFAULT_WINDOW, stride: int | None = None) -> LabelRule:
    """``moola label``'s rule for ``window``-bar windows every ``stride`` bars (default: its
    own stride)."""
    return LabelRule(window=window) if stride is None else LabelRule(window=window, stride=stride)


def load_windows(
    source: str | os.PathLike[str],
    *,
    window: int = DEFAULT_WINDOW,
    synthetic: SyntheticConfig | None = None,
    stride: int | None = None,
) -> OHLCWindows:
    """Load ``"synthetic"`` (the market ``synthetic`` describes; default: seed 0, ``window``
    bars), ``"synthetic:BARS[:seed]"`` or ``"backtesting:NAME"`` (bars labelled by ``moola
    label``'s rule, every ``stride`` bars: default its own stride), a ``.parquet`` file or a
    directory holding bars.csv + labels.csv."""
    accepted = (
        f"accepted sources are 'synthetic', synthetic:BARS[:seed], {', '.join(REAL_SOURCES)}, "
        f"a .parquet file, or a directory containing {BARS_CSV} and {LABELS_CSV}"
    )
    if isinstance(source, str) and POOL_SEPARATOR in source:
        return load_pooled(source, window=window, synthetic=synthetic, stride=stride)
    if isinstance(source, str) and source.strip().lower() == "synthetic":
        return generate_synthetic(synthetic or SyntheticConfig(window=window))
    if is_market_source(source):
        return label_file(source, label_rule(window, stride))
    if isinstance(source, str) and source.startswith(REAL_PREFIX):
        return load_real_series(source, window=window, stride=stride)
    path = Path(source)
    if path.suffix.lower() == ".parquet":
        if not path.is_file():
            raise DataValidationError(f"parquet file {str(path)!r} does not exist")
        return load_parquet(path, window=window)
    if path.is_dir():
        missing = [name for name in (BARS_CSV, LABELS_CSV) if not (path / name).is_file()]
        if missing:
            raise DataValidationError(
                f"directory {str(path)!r} has no {' or '.join(missing)}; {accepted}"
            )
        return load_csv(path / BARS_CSV, path / LABELS_CSV, window=window)
    if not path.exists():
        raise DataValidationError(f"{str(path)!r} does not exist; {accepted}")
    hint = ""
    if path.suffix.lower() in (".csv", ".txt"):
        hint = (
            f". If it is a bar series, label it into windows first: moola label {path} "
            "--out windows.parquet, then --data windows.parquet"
        )
    raise DataValidationError(f"don't know how to load {str(path)!r}; {accepted}{hint}")


def load_pooled(
    source: str,
    *,
    window: int = DEFAULT_WINDOW,
    synthetic: SyntheticConfig | None = None,
    stride: int | None = None,
) -> OHLCWindows:
    """Load every ``|``-separated source as :func:`load_windows` would, and pool them (a series
    id per source beside ``start_bar``, :func:`moola.data.pooled.pool_windows`)."""
    names = [s.strip() for s in source.split(POOL_SEPARATOR) if s.strip()]
    return pool_windows(
        [load_windows(n, window=window, synthetic=synthetic, stride=stride) for n in names]
    )


def label_files(
    paths: Sequence[str | os.PathLike[str]], rule: LabelRule | None = None
) -> OHLCWindows:
    """``moola label A B ...``: label each series file by the rule and pool the windows."""
    return pool_windows([label_file(p, rule) for p in paths])
