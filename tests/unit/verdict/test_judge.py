"""judge_head and judge_windows: the record every verdict is written as, from window losses."""

from __future__ import annotations

import numpy as np
import pytest

from moola.verdict import BlockBootstrap, MetricRule, judge_head, judge_windows, verdict
from moola.verdict.interval import paired_interval

GOOD = {"accuracy": 0.7, "baseline_accuracy": 0.6}


def test_the_record_holds_the_losses_the_verdict_and_a_copy_of_the_metrics() -> None:
    metrics = dict(GOOD)
    record = judge_head("type", initial=1.0, final=0.5, prior=0.8, metrics=metrics)
    assert record == {
        "initial": 1.0,
        "final": 0.5,
        "baseline": 0.8,
        "learned": True,
        "why": verdict("type", initial=1.0, final=0.5, prior=0.8, metrics=GOOD).why,
        "metrics": GOOD,
    }
    record["metrics"]["accuracy"] = 0.0
    assert metrics == GOOD  # a copy


def test_the_margin_and_the_rule_reach_the_verdict() -> None:
    # 0.7x the prior: learned with the 5% margin, not with a 40% one
    assert judge_head("type", initial=1.0, final=0.7, prior=1.0, metrics=GOOD)["learned"]
    strict = judge_head("type", initial=1.0, final=0.7, prior=1.0, metrics=GOOD, margin=0.4)
    assert not strict["learned"] and "(needs <= 0.60x)" in strict["why"]
    rule = MetricRule("hit_rate", "prior_hit_rate", True, "hit rate")
    ruled = judge_head(
        "type",
        initial=1.0,
        final=0.5,
        prior=0.8,
        metrics={**GOOD, "hit_rate": 0.1, "prior_hit_rate": 0.2},
        rule=rule,
    )
    assert not ruled["learned"] and "hit rate 0.100 <= prior 0.200" in ruled["why"]


def test_judge_windows_judges_the_means_with_the_paired_interval() -> None:
    """Per head: final, initial and prior are the means of the window losses (not their
    medians or sums); the interval is the one of the head's windows against the prior's,
    joined to the head's metrics; a head without metrics is judged by the loss alone."""
    rng = np.random.default_rng(0)
    n = 40
    prior = {"type": 1.0 + rng.random(n), "b": 1.0 + rng.random(n)}
    head = {"type": 0.5 * prior["type"] + rng.exponential(0.05, n), "b": prior["b"] + 0.3}
    initial = {"type": prior["type"] + 1.0, "b": prior["b"] + 1.0}
    boot = BlockBootstrap(np.arange(n), overlap_run=4, seed=5, n_boot=300)
    metrics = {"type": {"accuracy": 0.8, "baseline_accuracy": 0.5}}
    got = judge_windows(["type", "b"], head, initial, prior, metrics, boot)
    assert list(got) == ["type", "b"]
    for name in ("type", "b"):
        record = got[name]
        assert record["final"] == pytest.approx(head[name].mean())
        assert record["initial"] == pytest.approx(initial[name].mean())
        assert record["baseline"] == pytest.approx(prior[name].mean())
        interval = paired_interval(head[name], prior[name], boot)
        assert {k: record["metrics"][k] for k in interval} == interval
    assert got["type"]["learned"] and got["type"]["metrics"]["accuracy"] == 0.8
    assert not got["b"]["learned"] and got["b"]["why"].endswith("; no metric to check")
    assert got["type"]["why"].endswith("and accuracy 0.800 > prior 0.500")
