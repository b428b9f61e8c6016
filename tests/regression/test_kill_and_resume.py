"""SIGKILL a training run mid-way, resume it, and get the uninterrupted run bit for bit.

Also: a second ``moola train`` on the same folder refuses while the first runs, and the
killed run leaves no stale lock behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import moola
from moola.cli import main
from moola.rundir.checkpoint import load_checkpoint
from moola.rundir.claim import LOCK_NAME

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)"),
]

STEPS = 30
RECIPE = [
    "--steps", str(STEPS), "--batch-size", "16", "--threads", "1", "--log-every", "5",
    "--eval-every", "10", "--no-progress", "--telemetry-every", "7",
]  # fmt: skip


def wait_for(condition: object, process: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 120
    while not condition():  # type: ignore[operator]
        if process.poll() is not None:
            pytest.fail(f"the run ended (rc {process.returncode}) before {what}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_sigkill_then_resume_matches_an_uninterrupted_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    killed, straight = tmp_path / "killed", tmp_path / "straight"
    env = {**os.environ, "PYTHONPATH": str(Path(moola.__file__).parents[1])}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "moola",
            "train",
            *RECIPE,
            "--checkpoint-every",
            "10",
            "--out",
            str(killed),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for((killed / "checkpoint.pt").exists, process, "a periodic checkpoint")
    process.send_signal(signal.SIGSTOP)  # hold it mid-run (and holding its lock) for a moment
    try:
        assert (killed / LOCK_NAME).read_text().startswith(f"moola train, pid {process.pid} on ")
        # A second run on the same folder refuses while the first one holds it.
        assert main(["train", *RECIPE, "--out", str(killed)]) == 2
        err = capsys.readouterr().err
        assert f"is in use by another moola run (held by moola train, pid {process.pid} on " in err
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    assert not (killed / "metrics.json").exists()  # it really died mid-run
    killed_at = load_checkpoint(killed)["step"]
    assert killed_at in (10, 20)

    # The killed run left no stale lock: the resume takes the folder and finishes.
    assert main(["train", "--resume", str(killed), "--steps", str(STEPS)]) == 0
    assert main(["train", *RECIPE, "--out", str(straight)]) == 0
    capsys.readouterr()

    resumed_metrics = json.loads((killed / "metrics.json").read_text())
    straight_metrics = json.loads((straight / "metrics.json").read_text())
    for key in ("history", "weights", "validation", "tasks", "telemetry"):
        assert resumed_metrics[key] == straight_metrics[key], key
    assert resumed_metrics["history"]["step"] == list(range(5, STEPS + 1, 5))
    resumed_state, straight_state = load_checkpoint(killed), load_checkpoint(straight)
    for name, tensor in straight_state["model"].items():
        assert torch.equal(resumed_state["model"][name], tensor), name
    print(f"killed at step {killed_at}")
