"""moola's loss-curve goldens: what a training run's snapshot holds (readable JSON in ``golden/``).

The comparison with tolerances is the plugin's (:mod:`moola.testing.snapshot`); this module
only says which curves, steps and recipe a moola run stores.
"""

from __future__ import annotations

from typing import Any

from moola.testing.snapshot import curves_snapshot


def curve_snapshot(result: Any, *, every: int = 4) -> dict[str, Any]:
    """Downsampled, rounded per-task training-loss curves plus the recipe that made them."""
    history = result.history
    keep = list(range(every - 1, len(history.step), every))
    if keep[-1] != len(history.step) - 1:
        keep.append(len(history.step) - 1)
    config = result.config
    curves = {name: [history.losses[name][i] for i in keep] for name in history.task_names}
    return curves_snapshot(
        curves,
        [history.step[i] for i in keep],
        recipe={
            "balancer": config.balancer,
            "countdown_units": config.countdown_units,
            "steps": config.steps,
            "batch_size": config.batch_size,
            "lr": config.lr,
            "seed": config.seed,
            "n_windows": config.n_windows,
            "model": config.model,
            "threads": config.threads,
        },
        units="mean training loss over each 5-step log interval; countdown in bars",
    )
