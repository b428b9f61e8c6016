"""SIGKILL a ``moola pretrain`` mid-way, resume it, and get the uninterrupted run bit for bit:
its history, its weights and its export (the masks and the rule's labels are functions of the
step, the store is rebuilt from the same bars)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import moola
from moola.cli import main
from moola.rundir.checkpoint import load_checkpoint
from moola.rundir.pretrained import load_pretrained
from tests.regression.test_kill_and_resume import wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)"),
]

STEPS = 30
RECIPE = [
    "--data", "synthetic:3000:1", "--objective", "both", "--window", "40", "--steps", str(STEPS),
    "--batch-size", "16", "--threads", "1", "--log-every", "5", "--eval-every", "10",
    "--no-progress", "--set", 'model={"hidden_size": 12, "projection_dim": 8}',
]  # fmt: skip


def test_a_killed_pretraining_resumes_to_the_uninterrupted_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    killed, straight = tmp_path / "killed", tmp_path / "straight"
    env = {**os.environ, "PYTHONPATH": str(Path(moola.__file__).parents[1])}
    process = subprocess.Popen(
        [sys.executable, "-m", "moola", "pretrain", *RECIPE, "--checkpoint-every", "10",
         "--out", str(killed)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    wait_for((killed / "checkpoint.pt").exists, process, "a periodic checkpoint")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    assert not (killed / "metrics.json").exists() and not (killed / "pretrained.pt").exists()
    killed_at = load_checkpoint(killed)["step"]
    assert killed_at in (10, 20)

    assert main(["pretrain", "--resume", str(killed), "--no-progress"]) == 0
    assert main(["pretrain", *RECIPE, "--out", str(straight)]) == 0
    capsys.readouterr()
    resumed_metrics = json.loads((killed / "metrics.json").read_text())
    straight_metrics = json.loads((straight / "metrics.json").read_text())
    for key in ("history", "weights", "validation", "tasks"):
        assert resumed_metrics[key] == straight_metrics[key], key
    resumed, uninterrupted = load_pretrained(killed), load_pretrained(straight)
    assert resumed["model"].keys() == uninterrupted["model"].keys()
    for name, tensor in uninterrupted["model"].items():
        assert torch.equal(resumed["model"][name], tensor), name
    assert resumed["recipe"]["sources"] == uninterrupted["recipe"]["sources"]
    print(f"killed at step {killed_at}")
