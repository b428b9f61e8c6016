"""Running stages: time boxes, subprocesses in their own process groups, the whole budget."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from tests.gpu_check.layout import ROOT

#: The whole run must fit in one 8-minute device call, start-up and copies included.
TOTAL_BUDGET_S = 450.0
#: After the box: SIGINT (pytest then still writes its JUnit XML), this long, then SIGKILL.
GRACE_S = 10.0
#: A stage that would get less than this is skipped as out of time rather than started.
MIN_LEFT_S = 5.0

#: What a stage reports: ``rc`` (0 is success), ``seconds``, and as the case may be
#: ``timed_out``, ``skipped`` (why), ``error`` (one line) and the stage's own figures.
Result = dict[str, Any]


@dataclass(frozen=True)
class Context:
    """What a stage gets: its name, the work folder, its time box and the earlier results."""

    name: str
    work: Path
    timeout: float
    dry_run: bool
    results: Mapping[str, Result]


class Stage(NamedTuple):
    """One line of the stage table: a name (for ``--stages``), its time box, its function."""

    name: str
    box_s: float
    run: Callable[[Context], Result]


def passed(result: Result) -> bool:
    """A stage passed when it ran, finished within its box and returned rc 0."""
    return not result.get("skipped") and not result.get("timed_out") and result.get("rc") == 0


def child_env(dry_run: bool) -> dict[str, str]:
    """This environment with the working tree's ``src`` first, so no install is needed."""
    env = dict(os.environ)
    src = str(ROOT / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("PYTHONUNBUFFERED", "1")
    if dry_run:
        env["MOOLA_GPU_DRY_RUN"] = "1"
    return env


def run_command(cmd: list[str], log: Path, timeout: float, env: dict[str, str]) -> Result:
    """Run ``cmd`` in its own process group with output to ``log``; stop it after ``timeout``
    (SIGINT to the whole group, GRACE_S to finish, then SIGKILL)."""
    started = time.monotonic()
    with log.open("w", encoding="utf-8") as out:
        out.write("$ " + shlex.join(cmd) + "\n")
        out.flush()
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        timed_out = False
        try:
            rc = proc.wait(timeout=max(timeout, 1.0))
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGINT)
            try:
                rc = proc.wait(timeout=GRACE_S)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                rc = proc.wait()
    return {"rc": rc, "timed_out": timed_out, "seconds": round(time.monotonic() - started, 1)}


def run_stages(
    table: Sequence[Stage],
    names: Sequence[str],
    work: Path,
    dry_run: bool,
    deadline: float,
    report: Callable[[str, Result], None],
) -> dict[str, Result]:
    """Run the named stages in order, each within its box and what is left before
    ``deadline`` (a ``time.monotonic()`` value); ``report`` hears of each as it ends. A stage
    that raises counts as failed and the next one still runs."""
    boxes = {stage.name: stage for stage in table}
    results: dict[str, Result] = {}
    for name in names:
        left = deadline - time.monotonic()
        if left < MIN_LEFT_S:
            results[name] = {"rc": None, "skipped": "out of time"}
        else:
            stage = boxes[name]
            timeout = min(stage.box_s, left) - GRACE_S  # the box includes the SIGINT grace
            context = Context(name, work, timeout, dry_run, results)
            t0 = time.monotonic()
            try:
                results[name] = stage.run(context)
            except Exception as exc:  # one broken stage must not stop the others
                results[name] = {"rc": 1, "error": f"{type(exc).__name__}: {exc}"}
            results[name].setdefault("seconds", round(time.monotonic() - t0, 1))
        report(name, results[name])
    return results
