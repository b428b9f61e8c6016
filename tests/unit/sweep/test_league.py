"""The league table, on hand-made metrics.json files with hand-worked expected values."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from moola.cli import main
from moola.sweep.league import build_league, league_markdown, load_runs, mean_sd, write_league


def mark_sweep(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "sweep.json").write_text(json.dumps({"grid": {}, "executor": "inline", "runs": []}))


def fake_metrics(
    balancer: str,
    seed: int,
    final: float,
    *,
    learned: bool,
    accuracy: float,
    best: float | None = None,
    lr: float = 0.003,
    seconds: float = 10.0,
) -> dict[str, Any]:
    """One head ("type", baseline 2.0) with the given final loss and accuracy."""
    metrics: dict[str, Any] = {
        "config": {
            "balancer": balancer,
            "seed": seed,
            "data": "synthetic",
            "lr": lr,
            "out_dir": f"/x/{balancer}{seed}",
            "steps": 200,
        },
        "tasks": {
            "type": {
                "initial": 2.2,
                "final": final,
                "baseline": 2.0,
                "learned": learned,
                "metrics": {"accuracy": accuracy, "baseline_accuracy": 0.4},
            }
        },
        "timing": {"fit_seconds": seconds},
    }
    if best is not None:
        metrics["best"] = {
            "step": 100,
            "tasks": {"type": {"loss": best, "learned": True, "metrics": {}}},
        }
    return metrics


def write_runs(root: Path, runs: dict[str, dict[str, Any]]) -> None:
    """Finished runs in a sweep's folder (its manifest, as moola sweep writes it first)."""
    mark_sweep(root)
    for name, metrics in runs.items():
        (root / name).mkdir(parents=True)
        (root / name / "metrics.json").write_text(json.dumps(metrics))


def test_mean_and_sample_sd() -> None:
    assert mean_sd([1.0, 3.0]) == {"mean": 2.0, "sd": pytest.approx(math.sqrt(2.0))}
    assert mean_sd([5.0]) == {"mean": 5.0, "sd": None}
    assert mean_sd([]) == {"mean": None, "sd": None}


def test_league_groups_by_balancer_and_averages_over_seeds(tmp_path: Path) -> None:
    write_runs(
        tmp_path,
        {
            # static: final/baseline 0.5 and 0.7 -> mean 0.6, sd sqrt(0.02) = 0.1414
            "a0": fake_metrics("static", 0, 1.0, learned=True, accuracy=0.6, seconds=10),
            "a1": fake_metrics("static", 1, 1.4, learned=True, accuracy=0.8, seconds=14),
            # famo: one learned of two; best recorded on both (0.8/2, 1.2/2 -> 0.5 mean)
            "b0": fake_metrics("famo", 0, 1.9, learned=True, accuracy=0.5, best=0.8),
            "b1": fake_metrics("famo", 1, 2.1, learned=False, accuracy=0.4, best=1.2),
        },
    )
    (tmp_path / "unfinished").mkdir()  # no metrics.json: not a finished run
    (tmp_path / "unfinished" / "checkpoint.pt").write_bytes(b"")
    league = build_league(load_runs(tmp_path))
    assert league["runs"] == 4 and league["setting_keys"] == []
    groups = {g["balancer"]: g for g in league["groups"]}
    static = groups["static"]
    assert static["seeds"] == [0, 1] and static["n"] == 2
    head = static["heads"]["type"]
    assert head["final_over_baseline"]["mean"] == pytest.approx(0.6)
    assert head["final_over_baseline"]["sd"] == pytest.approx(math.sqrt(0.02))
    assert head["best_over_baseline"] is None  # not recorded: n/a
    assert head["metric"]["name"] == "accuracy"
    assert head["metric"]["mean"] == pytest.approx(0.7)
    assert head["constant"] == {"mean": pytest.approx(0.4), "sd": pytest.approx(0.0)}
    assert head["learned_final"] == 1.0 and head["learned_best"] is None
    assert static["run_seconds"]["mean"] == pytest.approx(12.0)

    famo = groups["famo"]["heads"]["type"]
    assert famo["final_over_baseline"]["mean"] == pytest.approx(1.0)
    assert famo["best_over_baseline"]["mean"] == pytest.approx(0.5)
    assert famo["learned_final"] == 0.5 and famo["learned_best"] == 1.0

    text = league_markdown(league)
    assert "| static | type | 2 | 0.600 ± 0.141 | n/a | accuracy 0.700 ± 0.141" in text
    assert "| 100% | n/a | 12.0 ± 2.8 |" in text


def test_varying_settings_split_the_groups(tmp_path: Path) -> None:
    write_runs(
        tmp_path,
        {
            "x0": fake_metrics("static", 0, 1.0, learned=True, accuracy=0.6, lr=0.001),
            "x1": fake_metrics("static", 1, 1.2, learned=True, accuracy=0.6, lr=0.001),
            "y0": fake_metrics("static", 0, 1.8, learned=False, accuracy=0.4, lr=0.003),
        },
    )
    league = write_league(tmp_path)
    assert league["setting_keys"] == ["lr"]  # steps is the same everywhere: not a setting
    assert [(g["settings"], g["n"]) for g in league["groups"]] == [
        ({"lr": 0.001}, 2),
        ({"lr": 0.003}, 1),
    ]
    assert league["groups"][1]["heads"]["type"]["final_over_baseline"]["sd"] is None
    assert "lr=0.001" in (tmp_path / "league.md").read_text()
    assert json.loads((tmp_path / "league.json").read_text()) == league
    assert (tmp_path / "league.png").read_bytes()[:4] == b"\x89PNG"


def test_every_head_learned_counts_seeds_on_which_all_heads_learned(tmp_path: Path) -> None:
    """Per head, type and binary each learn on 2 of 3 seeds, but every head only on seed 0."""
    runs = {}
    for seed, (type_ok, binary_ok) in enumerate([(True, True), (True, False), (False, True)]):
        metrics = fake_metrics("trunknorm", seed, 1.0, learned=type_ok, accuracy=0.6, best=0.8)
        metrics["tasks"]["binary"] = {**metrics["tasks"]["type"], "learned": binary_ok}
        metrics["best"]["tasks"]["binary"] = {"loss": 0.8, "learned": seed != 2, "metrics": {}}
        runs[f"r{seed}"] = metrics
    write_runs(tmp_path, runs)
    (group,) = build_league(load_runs(tmp_path))["groups"]
    assert group["heads"]["type"]["learned_final"] == pytest.approx(2 / 3)
    assert group["heads"]["binary"]["learned_final"] == pytest.approx(2 / 3)
    assert group["every_head_learned_final"] == pytest.approx(1 / 3)
    # best: type learned on every seed (fake_metrics), binary on seeds 0 and 1
    assert group["every_head_learned_best"] == pytest.approx(2 / 3)
    assert "| synthetic | - | trunknorm | 3 | 33% | 67% |" in league_markdown(
        build_league(load_runs(tmp_path))
    )


# ---------------------------------------------------------------- Fixes of issue 19 in ``moola league``: it says so when it draws no league.png (and leaves


def run_metrics(seed: int, mae: float) -> dict[str, object]:
    return {
        "config": {"balancer": "static", "seed": seed, "data": "synthetic", "steps": 10},
        "tasks": {
            "countdown": {
                "initial": 9.0,
                "final": 4.0,
                "baseline": 8.0,
                "learned": True,
                "metrics": {"mae_bars": mae, "baseline_mae_bars": 11.0},
            }
        },
        "timing": {"fit_seconds": 1.0},
    }


def test_league_with_no_finished_run_writes_no_png_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mark_sweep(tmp_path)
    (tmp_path / "league.png").write_bytes(b"old picture")
    (tmp_path / "unfinished").mkdir()
    assert main(["league", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "no league.png: no finished run" in err and ", league.png" not in err
    assert not (tmp_path / "league.png").exists()


def test_league_with_runs_draws_the_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    mark_sweep(tmp_path)
    for seed, mae in [(0, 6.0), (1, 8.0)]:
        (tmp_path / f"r{seed}").mkdir()
        (tmp_path / f"r{seed}" / "metrics.json").write_text(json.dumps(run_metrics(seed, mae)))
    assert main(["league", str(tmp_path)]) == 0
    assert "league.json, league.png" in capsys.readouterr().err
    assert (tmp_path / "league.png").read_bytes()[:4] == b"\x89PNG"
    text = league_markdown(build_league(load_runs(tmp_path)))
    # mean 7.0, sample sd 1.414; the constant 11.0 on both seeds (sd 0)
    assert "MAE 7.000 ± 1.414 bars (prior 11.000 ± 0.000)" in text
    assert "mae_bars" not in text


# ---------------------------------------------------------------- issue 29: only a sweep's folder


def test_league_refuses_a_run_folder_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It wrote an empty league.md and league.json into a single run's folder, exit 0."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps(run_metrics(0, 6.0)))
    before = sorted(p.name for p in run.iterdir())
    assert main(["league", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("moola league: error:") and err.count("\n") == 1
    assert "a run folder (it holds metrics.json), not a sweep" in err
    assert sorted(p.name for p in run.iterdir()) == before


def test_league_refuses_a_folder_without_a_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_runs(
        tmp_path / "sweep", {"a0": fake_metrics("static", 0, 1.0, learned=True, accuracy=0.6)}
    )
    (tmp_path / "sweep" / "sweep.json").unlink()
    assert main(["league", str(tmp_path / "sweep")]) == 2
    assert "not a sweep folder (no sweep.json)" in capsys.readouterr().err
    assert not (tmp_path / "sweep" / "league.json").exists()
