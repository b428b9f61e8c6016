"""Fixes of issue 19 in ``moola league``: it says so when it draws no league.png (and leaves
no stale one), and the metric column names the metric as the verdict does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from moola.cli import main
from moola.sweep.league import build_league, league_markdown, load_runs


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
    (tmp_path / "league.png").write_bytes(b"old picture")
    (tmp_path / "unfinished").mkdir()
    assert main(["league", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "no league.png: no finished run" in err and ", league.png" not in err
    assert not (tmp_path / "league.png").exists()


def test_league_with_runs_draws_the_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    for seed, mae in [(0, 6.0), (1, 8.0)]:
        (tmp_path / f"r{seed}").mkdir()
        (tmp_path / f"r{seed}" / "metrics.json").write_text(json.dumps(run_metrics(seed, mae)))
    assert main(["league", str(tmp_path)]) == 0
    assert "league.json, league.png" in capsys.readouterr().err
    assert (tmp_path / "league.png").read_bytes()[:4] == b"\x89PNG"
    text = league_markdown(build_league(load_runs(tmp_path)))
    # mean 7.0, sample sd 1.414; the constant 11.0 on both seeds (sd 0)
    assert "MAE 7.000 ± 1.414 bars (const 11.000 ± 0.000)" in text
    assert "mae_bars" not in text
