"""``moola sweep`` end to end on tiny runs: finished runs are never redone, unfinished ones
resume, failures are recorded without stopping the others, and every executor gives the
same numbers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from moola.atomic import atomic_write
from moola.cli import main
from moola.rundir.claim import LOCK_NAME, claim_out_dir
from moola.sweep import Grid, run_sweep
from moola.sweep.executors import InlineExecutor, PoolExecutor
from moola.sweep.progress import SweepProgress
from moola.sweep.task import RunOutcome
from moola.train import TrainConfig, Trainer

#: A run of about a tenth of a second: tiny model, 64 windows, 6 steps.
TINY = {
    "steps": (6,),
    "n_windows": (64,),
    "log_every": (2,),
    "eval_every": (0,),
    "model": ({"hidden_size": 8, "projection_dim": 8},),
}
TINY_FLAGS = [
    "--steps",
    "6",
    "--set",
    "n_windows=64",
    "--set",
    "log_every=2",
    "--set",
    "eval_every=0",
    "--set",
    'model={"hidden_size": 8, "projection_dim": 8}',
]


@pytest.fixture
def quick_plots(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in loss_curves.png (matplotlib takes ~1 s a plot, 50x a tiny run); the real
    plot is checked in test_a_sweep_run_equals_moola_train_with_the_same_config."""

    def plot(metrics: dict[str, Any], path: Path) -> Path:
        return atomic_write(path, lambda handle: handle.write(b"stand-in plot"))

    monkeypatch.setattr("moola.train.outputs.plot_loss_curves", plot)


def tiny_grid(balancers: tuple[str, ...] = ("static",), seeds: tuple[int, ...] = (0, 1), **extra):
    return Grid(("synthetic",), balancers, seeds, {**TINY, **extra})


def results(metrics: dict[str, Any]) -> dict[str, Any]:
    """Everything but the wall time (and the folder the run was written to)."""
    config = {k: v for k, v in metrics["config"].items() if k != "out_dir"}
    return {**{k: v for k, v in metrics.items() if k != "timing"}, "config": config}


def read_metrics(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "metrics.json").read_text())


def file_stamps(out: Path) -> dict[str, int]:
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in out.glob("*/*")}


def sweep(grid: Grid, out: Path, executor: Any = None) -> tuple[Any, list[RunOutcome]]:
    outcomes: list[RunOutcome] = []
    summary = run_sweep(
        grid.expand(out), out, executor or InlineExecutor(), on_outcome=outcomes.append
    )
    return summary, outcomes


def test_a_sweep_run_equals_moola_train_with_the_same_config(tmp_path: Path) -> None:
    summary, _ = sweep(tiny_grid(seeds=(1,)), tmp_path)
    assert summary.ok and summary.finished == ["synthetic__static__seed1"]
    run_dir = tmp_path / "synthetic__static__seed1"
    assert {p.name for p in run_dir.iterdir()} == {
        "metrics.json",
        "loss_curves.png",
        "checkpoint.pt",
        "best.pt",
        "judging.pt",
        LOCK_NAME,  # the run held its folder as `moola train` does
    }
    assert (
        (run_dir / LOCK_NAME)
        .read_text()
        .startswith("moola sweep run synthetic__static__seed1, pid ")
    )
    config = TrainConfig(
        steps=6,
        n_windows=64,
        log_every=2,
        eval_every=0,
        model={"hidden_size": 8, "projection_dim": 8},
        balancer="static",
        seed=1,
        threads=1,
        progress=False,
        out_dir=None,
    )
    direct = Trainer(config).fit().to_metrics()
    assert results(read_metrics(run_dir)) == results(direct)


@pytest.mark.usefixtures("quick_plots")
def test_rerun_redoes_no_finished_run_and_completes_the_rest(tmp_path: Path) -> None:
    grid = tiny_grid(seeds=(0, 1, 2))
    first, _ = sweep(grid, tmp_path)
    assert len(first.finished) == 3
    originals = {p.name: read_metrics(p) for p in tmp_path.iterdir() if p.is_dir()}
    # Simulate a sweep killed mid-way: one run lost its metrics.json (killed before the
    # final write; its checkpoint is there), another holds a truncated one.
    (tmp_path / "synthetic__static__seed1" / "metrics.json").unlink()
    truncated = tmp_path / "synthetic__static__seed2" / "metrics.json"
    truncated.write_text(truncated.read_text()[:100])
    untouched = {k: v for k, v in file_stamps(tmp_path).items() if "seed0" in k}

    second, outcomes = sweep(grid, tmp_path)

    assert second.skipped == ["synthetic__static__seed0"]
    assert sorted(o.name for o in outcomes) == [
        "synthetic__static__seed1",
        "synthetic__static__seed2",
    ]
    assert {k: v for k, v in file_stamps(tmp_path).items() if "seed0" in k} == untouched
    for name, metrics in originals.items():  # the redone runs reproduce their numbers
        assert results(read_metrics(tmp_path / name)) == results(metrics)
    third, outcomes = sweep(grid, tmp_path)
    assert outcomes == [] and len(third.skipped) == 3


@pytest.mark.usefixtures("quick_plots")
def test_an_unfinished_run_continues_from_its_checkpoint(tmp_path: Path) -> None:
    short, longer = tmp_path / "short", tmp_path / "longer"
    sweep(tiny_grid(seeds=(0,)), short)
    (short / "synthetic__static__seed0" / "metrics.json").unlink()  # killed after step 6
    _, outcomes = sweep(tiny_grid(seeds=(0,), steps=(10,)), short)
    assert [o.resumed_at for o in outcomes] == [6]
    sweep(tiny_grid(seeds=(0,), steps=(10,)), longer)  # the same run, uninterrupted
    resumed = read_metrics(short / "synthetic__static__seed0")
    assert resumed["history"]["step"] == [2, 4, 6, 8, 10]
    assert results(resumed) == results(read_metrics(longer / "synthetic__static__seed0"))


@pytest.mark.usefixtures("quick_plots")
def test_a_checkpoint_of_another_config_is_not_continued(tmp_path: Path) -> None:
    sweep(tiny_grid(seeds=(0,)), tmp_path / "a")
    (tmp_path / "a" / "synthetic__static__seed0" / "metrics.json").unlink()
    _, outcomes = sweep(tiny_grid(seeds=(0,), lr=(0.01,)), tmp_path / "a")
    assert [o.resumed_at for o in outcomes] == [None]  # started afresh
    sweep(tiny_grid(seeds=(0,), lr=(0.01,)), tmp_path / "b")
    assert results(read_metrics(tmp_path / "a" / "synthetic__static__seed0")) == results(
        read_metrics(tmp_path / "b" / "synthetic__static__seed0")
    )


@pytest.mark.usefixtures("quick_plots")
def test_a_finished_run_with_another_config_is_an_error_not_overwritten(tmp_path: Path) -> None:
    sweep(tiny_grid(seeds=(0,)), tmp_path)
    with pytest.raises(Exception, match="different config \\(steps\\)"):
        sweep(tiny_grid(seeds=(0,), steps=(8,)), tmp_path)


@pytest.mark.usefixtures("quick_plots")
def test_failed_runs_are_recorded_and_do_not_stop_the_others(tmp_path: Path) -> None:
    # lr 1e20 without clipping diverges at step 2 (a TrainingDivergedError).
    grid = tiny_grid(seeds=(0,), lr=(1e-3, 1e20), grad_clip=(None,))
    summary, _ = sweep(grid, tmp_path)
    bad = "synthetic__lr-1e+20__static__seed0"
    assert summary.finished == ["synthetic__lr-0.001__static__seed0"]
    assert list(summary.failed) == [bad]
    error = json.loads((tmp_path / bad / "error.json").read_text())
    assert error["type"] == "TrainingDivergedError" and error["expected"] is True
    assert "non-finite loss" in error["message"] and "step 2" in error["message"]
    assert not (tmp_path / bad / "metrics.json").exists()


@pytest.mark.usefixtures("quick_plots")
def test_cli_sweep_exit_status_league_and_unexpected_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.parquet"
    out = tmp_path / "sweep"
    args = ["sweep", *TINY_FLAGS, "--seeds", "0-1", "--balancers", "static,trunknorm"]
    args += ["--data", "synthetic", "--data", str(missing), "--out", str(out)]
    assert main([*args, "--executor", "inline", "--no-progress"]) == 1  # a run failed
    err = capsys.readouterr().err
    assert "4 runs finished now, 0 before, 4 failed" in err and "does not exist" in err
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["grid"]["seeds"] == [0, 1] and len(manifest["runs"]) == 8
    errors = sorted(out.glob("*/error.json"))
    assert len(errors) == 4 and all("missing" in p.parent.name for p in errors)

    league = json.loads((out / "league.json").read_text())
    assert league["runs"] == 4 and [g["balancer"] for g in league["groups"]] == [
        "static",
        "trunknorm",
    ]
    assert (out / "league.png").read_bytes()[:4] == b"\x89PNG"
    (out / "league.json").unlink()
    assert main(["league", str(out)]) == 0
    assert json.loads((out / "league.json").read_text()) == league
    assert "final ÷ baseline" in (out / "league.md").read_text()


@pytest.mark.usefixtures("quick_plots")
def test_a_run_whose_folder_another_run_holds_fails_alone(tmp_path: Path) -> None:
    held = tmp_path / "synthetic__static__seed1"
    with claim_out_dir(held):  # e.g. a `moola train --out` of that folder, still training
        summary, _ = sweep(tiny_grid(seeds=(0, 1)), tmp_path)
    assert summary.finished == ["synthetic__static__seed0"]
    error = json.loads((held / "error.json").read_text())
    assert error["type"] == "OutDirError" and error["expected"] is True
    assert "is in use by another moola run (held by moola train, pid " in error["message"]
    assert not (held / "metrics.json").exists()
    again, _ = sweep(tiny_grid(seeds=(0, 1)), tmp_path)  # once it is free, a rerun does it
    assert again.finished == ["synthetic__static__seed1"] and again.ok
    assert not (held / "error.json").exists()


def test_a_second_sweep_on_a_held_out_refuses_before_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with claim_out_dir(tmp_path, "moola sweep"):  # the first sweep, still running
        assert main(["sweep", *TINY_FLAGS, "--executor", "inline", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"output folder {tmp_path} is in use by another moola run (held by moola sweep" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [LOCK_NAME]  # no manifest, no runs


def test_cli_sweep_bad_input_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", "--set", "bogus=1", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "moola sweep: error: --set bogus=...: unknown TrainConfig field" in err
    assert main(["sweep", "--steps", "5", "--set", "steps=6", "--out", str(tmp_path)]) == 2
    assert main(["league", str(tmp_path / "nothing")]) == 2
    assert main(["sweep", "--address", "auto", "--out", str(tmp_path)]) == 2
    assert "--address is for --executor ray" in capsys.readouterr().err
    assert not (tmp_path / "sweep.json").exists()  # bad input: nothing was started


def test_plain_progress_reports_each_outcome(capsys: pytest.CaptureFixture[str]) -> None:
    progress = SweepProgress(enabled=False)
    with progress:
        progress.start(total=5, already_done=2, slots=2)
        progress.outcome(RunOutcome("a", True, 1.25, resumed_at=4))
        error = {"type": "TrainingDivergedError", "message": "non-finite loss"}
        progress.outcome(RunOutcome("b", False, 0.5, error=error))
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "2 of 5 runs already finished; skipping them",
        "done   a (1.2 s, resumed at step 4)",
        "FAILED b: TrainingDivergedError: non-finite loss",
    ]
    assert (progress.done, progress.failed) == (4, 1)


@pytest.mark.slow
def test_every_executor_gives_bit_identical_runs(tmp_path: Path) -> None:
    """The same runs in-process, on the spawned process pool and as Ray tasks."""
    grid = tiny_grid(balancers=("static", "famo"), seeds=(3,))
    sweep(grid, tmp_path / "inline")
    summary, _ = sweep(grid, tmp_path / "pool", PoolExecutor(workers=2))
    assert summary.ok, summary.failed
    names = sorted(p.name for p in (tmp_path / "inline").iterdir())
    assert len(names) == 2
    for name in names:
        inline = results(read_metrics(tmp_path / "inline" / name))
        assert results(read_metrics(tmp_path / "pool" / name)) == inline

    pytest.importorskip("ray")
    import ray

    from moola.sweep.ray_executor import RayExecutor

    executor = RayExecutor(workers=2, init_options={"num_cpus": 2})
    try:
        summary, _ = sweep(grid, tmp_path / "ray", executor)
    finally:
        assert not ray.is_initialized()  # the executor shut down the instance it started
    assert summary.ok, summary.failed
    for name in names:
        ray_dir = tmp_path / "ray" / name
        assert {p.name for p in ray_dir.iterdir()} == {
            LOCK_NAME,  # the driver held the run's folder while its task trained
            "metrics.json",
            "loss_curves.png",
            "checkpoint.pt",
            "best.pt",
            "judging.pt",
        }
        remote = read_metrics(ray_dir)
        assert remote["config"]["out_dir"] == str(ray_dir)  # the driver's folder, not the node's
        assert results(remote) == results(read_metrics(tmp_path / "inline" / name))
