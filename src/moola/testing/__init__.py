"""moola's checks for any multi-task PyTorch model, as a library and a pytest plugin.

Installing moola registers the plugin (the ``pytest11`` entry point ``moola``), which adds
the fixtures ``seeded``, ``moola_seed`` and ``fixed_threads``. Import the checks from here:

* :func:`gradient_shares` — each task's exact gradient norm, share and pairwise cosines on
  the shared parameters (or a shared tensor), as a :class:`GradientShares`;
* :func:`assert_balanced`, :func:`assert_no_task_starved` — bounds on those, failing with
  the task's name, its share and the bound; they take a ``GradientShares`` measured once
  (or measure themselves, keeping the graph), so checks compose;
* :class:`CheckUsageError` — a check called with something it cannot measure;
* :func:`assert_learns` — a head beats its best constant predictor by loss and metric, by
  the rule ``moola train`` uses for its verdict;
* :func:`tolerant_extension`, :class:`CurveTolerance`, :func:`curves_snapshot` — loss-curve
  snapshots for syrupy (optional: needed only when a snapshot is taken) compared with
  tolerances.

Nothing here needs JadeCompact. The names are imported on first use, so that pytest loading
the plugin in every session stays cheap (no torch until a check or fixture runs).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from moola.testing.asserts import (
        BalanceError,
        assert_balanced,
        assert_learns,
        assert_no_task_starved,
    )
    from moola.testing.gradients import CheckUsageError, GradientShares, gradient_shares
    from moola.testing.snapshot import (
        CurveTolerance,
        curve_differences,
        curves_snapshot,
        tolerant_extension,
    )

_HOME = {
    "BalanceError": "asserts",
    "assert_balanced": "asserts",
    "assert_learns": "asserts",
    "assert_no_task_starved": "asserts",
    "CheckUsageError": "gradients",
    "GradientShares": "gradients",
    "gradient_shares": "gradients",
    "CurveTolerance": "snapshot",
    "curve_differences": "snapshot",
    "curves_snapshot": "snapshot",
    "tolerant_extension": "snapshot",
}

__all__ = [
    "BalanceError",
    "CheckUsageError",
    "CurveTolerance",
    "GradientShares",
    "assert_balanced",
    "assert_learns",
    "assert_no_task_starved",
    "curve_differences",
    "curves_snapshot",
    "gradient_shares",
    "tolerant_extension",
]


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(f"moola.testing.{_HOME[name]}"), name)
    raise AttributeError(f"module 'moola.testing' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))
