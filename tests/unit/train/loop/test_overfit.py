"""The overfit flag: validation loss rising for several evaluations after its best while the
training loss falls, on hand-made histories."""

from __future__ import annotations

import pytest

from moola.train.loop.history import History
from moola.train.loop.overfit import OVERFIT, find_overfits, overfit_warning


def history(val: list[float], train: list[float], *, every: int = 100) -> History:
    """Evaluations every ``every`` steps; training losses logged every 50 steps."""
    h = History(("type",))
    for i, loss in enumerate(train):
        h.append(50 * (i + 1), [loss], [1.0])
    h.validation = [{"step": every * (i + 1), "type": v} for i, v in enumerate(val)]
    return h


FALLING = [1.0 - 0.05 * i for i in range(10)]  # logged at steps 50..500


def test_rising_validation_with_falling_training_is_an_overfit() -> None:
    (found,) = find_overfits(history([1.0, 0.8, 0.85, 0.9, 0.95], FALLING))
    assert (found.head, found.best_step, found.last_step, found.evals_after) == (
        "type",
        200,
        500,
        3,
    )
    assert found.best_val == 0.8 and found.last_val == 0.95
    # training: the last 3 intervals up to step 200 (0.95, 0.9, 0.85) against the last 3
    assert found.train_at_best == pytest.approx(0.9)
    assert found.train_at_end == pytest.approx((0.65 + 0.6 + 0.55) / 3)


@pytest.mark.parametrize(
    ("val", "train", "why"),
    [
        ([1.0, 0.9, 0.8, 0.85, 0.9], FALLING, "two evaluations after the best"),
        ([1.0, 0.8, 0.85, 0.9, 0.81], FALLING, "the last is within 2% of the best"),
        ([1.0, 0.8, 0.85, 0.9, 0.95], FALLING[::-1], "the training loss rose too"),
        ([1.0, 0.9, 0.8, 0.7, 0.6], FALLING, "validation keeps falling"),
    ],
)
def test_no_overfit(val: list[float], train: list[float], why: str) -> None:
    assert find_overfits(history(val, train)) == [], why


def test_the_warning_names_the_heads_and_what_to_try() -> None:
    found = find_overfits(history([1.0, 0.8, 0.85, 0.9, 0.95], FALLING))
    warning = overfit_warning(found, patience=0, best_saved=True)
    assert warning is not None and warning["kind"] == OVERFIT
    text = warning["text"]
    assert "type 0.8 at step 200 -> 0.95 at step 500 (3 evaluations)" in text
    for advice in ("--patience 3", "fewer --steps (about 200)", "more data", "--init"):
        assert advice in text
    assert "best.pt holds the validation-best weights" in text
    assert (
        "a smaller --patience (now 5)"
        in overfit_warning(found, patience=5, best_saved=True)["text"]
    )
    assert overfit_warning([], patience=0, best_saved=True) is None
