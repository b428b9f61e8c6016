"""An overfit said out loud: a head's validation loss rising for several evaluations after its
best while its training loss kept falling, and what to try.

The rule, per head, on the run's evaluations (every ``--eval-every`` steps and the end):
its lowest validation loss was followed by at least :data:`MIN_EVALS_AFTER` evaluations, the
last of them more than :data:`RISE` above that lowest value, while its training loss (the
mean of the last :data:`TRAIN_ROWS` logged intervals) ended below what it was at the best
evaluation. The best weights (``best.pt``) are then the ones to use, and the run says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from moola.train.loop.history import History

#: ``metrics.json`` ``warnings[].kind`` of an overfit.
OVERFIT = "overfit"
#: Evaluations after the head's best before its rise counts as one.
MIN_EVALS_AFTER = 3
#: How far above its best (a fraction) the last validation loss must be.
RISE = 0.02
#: Logged training intervals averaged on each side of the comparison.
TRAIN_ROWS = 3


@dataclass(frozen=True)
class Overfit:
    """One head's overfit: its best evaluation, the last one, and its training loss at each."""

    head: str
    best_step: int
    best_val: float
    last_step: int
    last_val: float
    evals_after: int
    train_at_best: float
    train_at_end: float


def _train_mean(history: History, name: str, until: int | None) -> float | None:
    rows = [
        loss
        for step, loss in zip(history.step, history.losses[name])
        if until is None or step <= until
    ][-TRAIN_ROWS:]
    return sum(rows) / len(rows) if rows else None


def find_overfits(history: History) -> list[Overfit]:
    """Every head that overfit by the rule of the module docstring."""
    found = []
    for name in history.task_names:
        points = [(int(v["step"]), float(v[name])) for v in history.validation if name in v]
        if len(points) <= MIN_EVALS_AFTER:
            continue
        best = min(range(len(points)), key=lambda i: points[i][1])  # the first lowest
        after = len(points) - 1 - best
        (best_step, best_val), (last_step, last_val) = points[best], points[-1]
        if after < MIN_EVALS_AFTER or not last_val > best_val * (1 + RISE):
            continue
        at_best, at_end = _train_mean(history, name, best_step), _train_mean(history, name, None)
        if at_best is None or at_end is None or not at_end < at_best:
            continue
        found.append(
            Overfit(name, best_step, best_val, last_step, last_val, after, at_best, at_end)
        )
    return found


def overfit_warning(
    overfits: list[Overfit], *, patience: int, best_saved: bool
) -> dict[str, str] | None:
    """The ``warnings`` entry naming the heads that overfit and what to try; None if none."""
    if not overfits:
        return None
    heads = "; ".join(
        f"{o.head} {o.best_val:.4g} at step {o.best_step} -> {o.last_val:.4g} at step "
        f"{o.last_step} ({o.evals_after} evaluations), training {o.train_at_best:.4g} -> "
        f"{o.train_at_end:.4g}"
        for o in overfits
    )
    first = min(o.best_step for o in overfits)
    tries = [
        f"--patience {MIN_EVALS_AFTER} (stop once {MIN_EVALS_AFTER} evaluations bring no new best)"
        if not patience
        else f"a smaller --patience (now {patience})",
        f"fewer --steps (about {first})",
        "more data",
        "pretrained weights (--init, once available)",
    ]
    best = "; best.pt holds the validation-best weights" if best_saved else ""
    return {
        "kind": OVERFIT,
        "text": (
            f"overfit: the validation loss rose after its best while the training loss fell "
            f"({heads}){best}. Try {', '.join(tries[:-1])} or {tries[-1]}"
        ),
    }
