"""Which feature columns a store keeps per bar and which it computes when a window is drawn.

A window's inputs are a view of per-bar arrays, except for the two columns that are
*anchored* to the window itself: ``move_from_start`` (the drift since the window's first
close) and ``position`` (t / (K - 1)). Those are computed at gather time from the window's
first bar, so one per-bar array serves every window that covers a bar, whatever its start.

The *input semantics* say which bars a feature may see (README, "Inputs: per series or per
window"):

- ``series``: a bar's features are those of its whole series up to that bar (causal, with
  the warm-up only at the series' start). Windows cut from one series share their bars'
  features, so a window costs only the bars it adds. The default for every feature set
  except ``original``.
- ``window``: every window is its own series, as the original built its features (the
  warm-up at each window's start). The default for ``original``; exactly today's numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from moola.data.features import FEATURE_GROUPS, FEATURE_SETS, resolve_feature_set
from moola.errors import ConfigError

#: Columns computed per window when it is drawn (they depend on the window's first bar).
DRIFT = "move_from_start"
POSITION = "position"
ANCHORED: frozenset[str] = frozenset({DRIFT, POSITION})

SEMANTICS: tuple[str, ...] = ("series", "window")


def resolve_semantics(inputs: str, feature_set: str | tuple[str, ...] | list[str]) -> str:
    """``series`` or ``window``; ``auto`` is ``window`` for the original's groups, else ``series``."""
    if inputs == "auto":
        original = resolve_feature_set(feature_set) == FEATURE_SETS["original"]
        return "window" if original else "series"
    if inputs not in SEMANTICS:
        raise ConfigError(f"inputs must be 'auto', 'series' or 'window', got {inputs!r}")
    return inputs


@dataclass(frozen=True)
class ColumnPlan:
    """Where each output column of a feature set comes from."""

    groups: tuple[str, ...]
    names: tuple[str, ...]  # the output columns, in registry order
    stored: tuple[str, ...]  # the per-bar columns, in output order
    stored_at: tuple[int, ...]  # their positions among the output columns
    drift_at: int | None  # position of move_from_start, if the set has it
    position_at: int | None  # position of position, if the set has it

    @classmethod
    def of(cls, feature_set: str | tuple[str, ...] | list[str]) -> ColumnPlan:
        groups = resolve_feature_set(feature_set)
        names = tuple(n for g in groups for n in FEATURE_GROUPS[g].names)
        stored = tuple(n for n in names if n not in ANCHORED)
        return cls(
            groups=groups,
            names=names,
            stored=stored,
            stored_at=tuple(names.index(n) for n in stored),
            drift_at=names.index(DRIFT) if DRIFT in names else None,
            position_at=names.index(POSITION) if POSITION in names else None,
        )

    @property
    def needs_ema(self) -> bool:
        """The drift is in units of the range EMA, so the store keeps the close and the EMA."""
        return self.drift_at is not None

    @property
    def stored_slice(self) -> slice | None:
        """The stored columns as one slice of the output, when they are contiguous."""
        at = self.stored_at
        if at and list(at) == list(range(at[0], at[0] + len(at))):
            return slice(at[0], at[0] + len(at))
        return None
