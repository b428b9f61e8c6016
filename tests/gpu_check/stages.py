"""One function per stage, and the stage table: a new stage is a function and a line there."""

from __future__ import annotations

import json
import shutil
import sys

from tests.gpu_check import figures, machine, render
from tests.gpu_check.layout import PRETRAIN_FLAGS, PRETRAIN_SIZES, TRAIN_FLAGS
from tests.gpu_check.runner import Context, Result, Stage, child_env, run_command

#: The runs whose training curves gpu-rows.md compares: eager, then ``--graph``.
CURVES = ("train-eager", "train-graph")


def pytest_base() -> list[str]:
    """``python -m pytest`` as the device can run it."""
    # The device has no syrupy (nothing collected here needs it) and keeps no pytest cache.
    # junit_family=legacy: the JUnit XML keeps the tests' record_property values (the drifts).
    return [
        *[sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:syrupy"],
        *["-o", "junit_family=legacy"],
    ]


def stage_env(ctx: Context) -> Result:
    """env.json and env.txt: the card, driver and software the other stages ran on."""
    info = machine.environment(ctx.dry_run)
    (ctx.work / "env.json").write_text(render.json_text(info), encoding="utf-8")
    (ctx.work / "env.txt").write_text(render.env_text(info), encoding="utf-8")
    return {"rc": 0, "device": info.get("device", "cpu (dry run)")}


def stage_pytest(ctx: Context) -> Result:
    """The GPU tests, with their drifts in the JUnit XML."""
    cmd = [
        *pytest_base(),
        "tests/regression/test_cuda.py",
        "-m",
        "gpu",
        "-v",
        "-rA",
        f"--junitxml={ctx.work / 'pytest-gpu.xml'}",
        "-o",
        "junit_logging=no",
    ]
    return run_command(cmd, ctx.work / "pytest-gpu.log", ctx.timeout, child_env(ctx.dry_run))


def stage_bench(ctx: Context) -> Result:
    """The CUDA train-step benchmarks (the CPU ones at batch 32 in a dry run)."""
    cmd = [
        *pytest_base(),
        "tests/benchmarks/test_train_step.py",
        "--benchmark-only",
        "-k",
        "cpu and b32" if ctx.dry_run else "cuda",
        f"--benchmark-json={ctx.work / 'bench-cuda.json'}",
        "--benchmark-columns=min,median,mean,stddev,rounds",
        f"--junitxml={ctx.work / 'bench-cuda.xml'}",
    ]
    return run_command(cmd, ctx.work / "bench-cuda.log", ctx.timeout, child_env(ctx.dry_run))


def stage_train(ctx: Context) -> Result:
    """One ``moola train`` run with the flags TRAIN_FLAGS gives this stage's name."""
    run_dir = ctx.work / ctx.name
    shutil.rmtree(run_dir, ignore_errors=True)  # moola train would resume nothing, but be sure
    cmd = [sys.executable, "-m", "moola", "train", "--no-progress", "--out", str(run_dir)]
    if ctx.dry_run:
        cmd += ["--device", "cpu", "--steps", "30", "--eval-every", "10", "--threads", "2"]
    else:
        cmd += ["--device", "cuda"]  # the main job's defaults otherwise (1000 steps, batch 32)
    cmd += TRAIN_FLAGS[ctx.name]
    result = run_command(cmd, ctx.work / f"{ctx.name}.log", ctx.timeout, child_env(ctx.dry_run))
    metrics = run_dir / "metrics.json"
    if result["rc"] == 0 and metrics.is_file():
        result.update(figures.train_summary(json.loads(metrics.read_text(encoding="utf-8"))))
    elif result["rc"] == 0:
        result.update(rc=1, error=f"no {metrics}")
    return result


def stage_pretrain(ctx: Context) -> Result:
    """``moola pretrain`` with both objectives at once (masks, the rule's labels on the fly,
    five heads, trunknorm) and its windows per second."""
    run_dir = ctx.work / ctx.name
    shutil.rmtree(run_dir, ignore_errors=True)  # a fresh run, not a resumed one
    cmd = [sys.executable, "-m", "moola", "pretrain", "--no-progress", "--out", str(run_dir)]
    cmd += ["--device", "cpu" if ctx.dry_run else "cuda", *PRETRAIN_SIZES[ctx.dry_run]]
    cmd += PRETRAIN_FLAGS
    result = run_command(cmd, ctx.work / f"{ctx.name}.log", ctx.timeout, child_env(ctx.dry_run))
    metrics = run_dir / "metrics.json"
    if result["rc"] == 0 and metrics.is_file():
        result.update(figures.pretrain_summary(json.loads(metrics.read_text(encoding="utf-8"))))
    elif result["rc"] == 0:
        result.update(rc=1, error=f"no {metrics}")
    return result


def stage_rows(ctx: Context) -> Result:
    """gpu-rows.md and figures.json from the other stages' files (this call's or an
    earlier one's); fails without benchmark figures."""
    work = ctx.work
    bench = work / "bench-cuda.json"
    records = figures.load_benchmarks(bench) if bench.is_file() else None
    eager, graph = (figures.history(work / name / "metrics.json") for name in CURVES)
    text, figs = render.gpu_rows(
        figures.read_json(work / "env.json") or {},
        records,
        figures.junit_cases(work / "pytest-gpu.xml"),
        figures.train_results(work, ctx.results),
        (eager, graph),
    )
    (work / "gpu-rows.md").write_text(text, encoding="utf-8")
    (work / "figures.json").write_text(render.json_text(figs), encoding="utf-8")
    return {"rc": 0 if records is not None else 1, "figures": len(figs)}


#: Every stage in its standard order, with its time box in seconds: the boxes add up to at
#: most runner.TOTAL_BUDGET_S (SIGINT grace included).
STAGES: tuple[Stage, ...] = (
    Stage("env", 15.0, stage_env),
    Stage("pytest", 125.0, stage_pytest),
    Stage("bench", 85.0, stage_bench),
    Stage("train-eager", 60.0, stage_train),
    Stage("train-graph", 60.0, stage_train),
    Stage("train-bf16", 60.0, stage_train),
    Stage("pretrain", 35.0, stage_pretrain),
    Stage("rows", 10.0, stage_rows),
)
