"""``GET /model``'s verdict: the run's own decision per head for the served weights, or
unknown (with the reason) when metrics.json is missing, unreadable or judged another step."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from moola.inference import load_model
from moola.serve.verdict import run_verdict


@pytest.fixture
def run_copy(run_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run_dir, tmp_path / "run"))


def test_best_weights_get_the_verdict_of_the_best_step(run_dir: Path) -> None:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    verdict = run_verdict(load_model(run_dir, weights="best"))
    assert verdict.known
    for head, judged in verdict.heads.items():
        assert judged.learned is metrics["best"]["tasks"][head]["learned"]
        assert judged.why == metrics["best"]["tasks"][head]["why"]


def test_final_weights_get_the_verdict_of_the_final_step(run_copy: Path) -> None:
    metrics = json.loads((run_copy / "metrics.json").read_text())
    # make the two verdicts differ, so the test tells which one was read
    metrics["tasks"]["type"].update(learned=True, why="final: planted")
    metrics["best"]["tasks"]["type"].update(learned=False, why="best: planted")
    (run_copy / "metrics.json").write_text(json.dumps(metrics))
    final = run_verdict(load_model(run_copy, weights="final"))
    best = run_verdict(load_model(run_copy, weights="best"))
    assert final.known and "final weights (step 20)" in final.source
    assert (final.heads["type"].learned, final.heads["type"].why) == (True, "final: planted")
    assert (best.heads["type"].learned, best.heads["type"].why) == (False, "best: planted")


def test_without_metrics_json_the_verdict_is_unknown(run_copy: Path) -> None:
    (run_copy / "metrics.json").unlink()
    verdict = run_verdict(load_model(run_copy))
    assert not verdict.known and "no metrics.json" in verdict.source
    assert all(head.learned is None for head in verdict.heads.values())
    assert set(verdict.heads) == {"type", "pointers", "binary", "countdown"}


@pytest.mark.parametrize(
    ("content", "says"),
    [("{not json", "could not be read"), ("[1, 2]", "not a run's metrics")],
)
def test_an_unreadable_metrics_json_makes_the_verdict_unknown(
    run_copy: Path, content: str, says: str
) -> None:
    (run_copy / "metrics.json").write_text(content)
    verdict = run_verdict(load_model(run_copy))
    assert not verdict.known and says in verdict.source


def test_a_metrics_json_of_another_step_is_not_taken_for_these_weights(run_copy: Path) -> None:
    metrics = json.loads((run_copy / "metrics.json").read_text())
    metrics["best"]["step"] = 10_000
    (run_copy / "metrics.json").write_text(json.dumps(metrics))
    verdict = run_verdict(load_model(run_copy))
    assert not verdict.known and "step 10000" in verdict.source


def test_a_head_without_a_decision_makes_the_verdict_unknown(run_copy: Path) -> None:
    metrics = json.loads((run_copy / "metrics.json").read_text())
    del metrics["best"]["tasks"]["countdown"]["learned"]
    (run_copy / "metrics.json").write_text(json.dumps(metrics))
    assert not run_verdict(load_model(run_copy)).known
