"""The one-line summary of a run's verdict: the heads that learned and the intervals' width."""

from __future__ import annotations

import pytest

from moola.verdict.summary import half_width, learned_count, median_half_width, summary_line


def head(learned: bool, low: float | None = None, high: float | None = None) -> dict:
    metrics = {} if low is None else {"ratio_low": low, "ratio_high": high}
    return {"learned": learned, "metrics": metrics}


def test_half_width_is_half_the_ratio_intervals_width() -> None:
    assert half_width({"ratio_low": 0.7, "ratio_high": 1.3}) == pytest.approx(0.3)
    assert half_width({"ratio_low": 0.9, "ratio_high": 1.3}) == pytest.approx(0.2)
    assert half_width({"ratio_low": 0.9}) is None
    assert half_width({"ratio_high": 1.3}) is None


def test_the_median_half_width_is_over_the_heads_that_have_one() -> None:
    tasks = {
        "a": head(False, 0.9, 1.1),  # 0.1
        "b": head(False, 0.8, 1.2),  # 0.2
        "c": head(False, 0.4, 1.6),  # 0.6 (the mean would be 0.3)
        "d": head(False),  # no interval: not counted
        "e": {"learned": False},  # no metrics at all
    }
    assert median_half_width(tasks) == pytest.approx(0.2)
    assert median_half_width({"a": head(False, 0.9, 1.1), "b": head(False, 0.7, 1.3)}) == (
        pytest.approx(0.2)
    )
    assert median_half_width({"d": head(False)}) is None


def test_learned_count_names_the_heads_that_learned() -> None:
    tasks = {"type": head(True), "pointers": head(False), "binary": {}, "countdown": head(True)}
    assert learned_count(tasks) == "2 of 4 heads learned (type, countdown)"
    assert learned_count({"type": head(False)}) == "0 of 1 heads learned"


def test_the_summary_line_says_it_all_in_one_line() -> None:
    tasks = {"type": head(False, 0.8, 1.2), "pointers": head(False, 0.6, 1.4)}  # 0.2, 0.4
    best = {"type": head(True, 0.7, 0.9), "pointers": head(False, 0.6, 1.4)}
    line = summary_line(tasks, n_train=142, n_held=31, best=best)
    assert line == (
        "0 of 2 heads learned (final weights; best weights: 1 of 2 heads learned (type)); "
        "142 training / 31 validation windows; median 95% interval ±0.30x the prior"
    )
    plain = summary_line({"type": head(True)}, n_train="10–20", n_held=7, held="test", weights="w")
    assert plain == "1 of 1 heads learned (type) (w); 10–20 training / 7 test windows"
