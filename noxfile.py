"""Developer tasks. ``nox -s tests`` is the CI gate; ``nox -l`` lists every session.

Every session installs a pinned, CPU-friendly torch first: an unpinned ``torch`` resolves
to a multi-GB CUDA build. Override the pin with ``MOOLA_TORCH`` (e.g. ``MOOLA_TORCH=
"torch==2.5.1"``) to test another release.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.sessions = ["tests"]
nox.options.error_on_missing_interpreters = True

TORCH = os.environ.get("MOOLA_TORCH", "torch==2.13.0")
# Linters are pinned: a new ruff or mypy release must not turn a green main red.
RUFF = "ruff==0.17.6"
IMPORT_LINTER = "import-linter==2.17"
MYPY = "mypy==2.4.1"


def install_project(session: nox.Session, extras: str) -> None:
    session.install(*TORCH.split())
    session.install(f".[{extras}]")


@nox.session
def tests(session: nox.Session) -> None:
    """Unit, regression and (untimed) benchmark tests; args after -- go to pytest.

    They run in parallel on every core (pytest-xdist, ``-n auto``); ``nox -s tests -- -n 0``
    runs them serially. ``--dist loadgroup`` keeps the regression tests that share cached
    runs on one worker.
    """
    install_project(session, "test")
    session.run(
        "pytest",
        "tests/unit",
        "tests/regression",
        "tests/benchmarks",
        "--benchmark-disable",
        "-n",
        "auto",
        "--dist=loadgroup",
        "-m",
        "not memory",  # measurements that a shared machine makes noisy: nox -s memory
        *session.posargs,
        env={"OMP_NUM_THREADS": "1"},
    )


@nox.session
def golden(session: nox.Session) -> None:
    """Re-record this platform's golden loss curves on purpose (explain every change in the
    commit).

    Goldens are keyed by platform (``golden/<vendor>-<ISA>-torch<version>/``); this records
    the folder of the machine it runs on, creating it on a new platform, and leaves the
    other platforms' goldens alone. The goldens compare with tolerances, so
    ``--snapshot-update`` alone leaves a curve that is still within tolerance untouched;
    this session deletes the folder's files first so that all are recorded afresh.
    """
    install_project(session, "test")
    key = session.run("python", "tests/regression/golden_platform.py", silent=True)
    folder = Path("golden") / str(key).strip().splitlines()[-1]
    session.log(f"recording the goldens of platform {folder.name}")
    for golden in folder.glob("*.json"):
        golden.unlink()
    session.run(
        "pytest", "tests/regression/test_golden_curves.py", "--snapshot-update", *session.posargs
    )


@nox.session
def bench(session: nox.Session) -> None:
    """Timed benchmarks, saved under .benchmarks/ for later comparison.

    Compare against the last saved run:
    ``nox -s bench -- --benchmark-compare --benchmark-compare-fail=median:15%``
    """
    install_project(session, "test")
    session.run(
        "pytest", "tests/benchmarks", "--benchmark-only", "--benchmark-autosave", *session.posargs
    )


@nox.session
def memory(session: nox.Session) -> None:
    """Peak RSS per window of ``moola train`` (two sizes in subprocesses; BENCHMARKS.md,
    "Memory per window"), and a 10-million-bar series store built and trained on in a process
    capped at 2 GB ("Series store"; writes ~1.3 GB to a temporary folder). Run it on an
    otherwise idle machine."""
    install_project(session, "test")
    session.run(
        "pytest",
        "tests/benchmarks/test_memory.py",
        "tests/benchmarks/test_store_memory.py",
        "-m",
        "memory",
        "-s",
        *session.posargs,
    )


@nox.session
def pretrained(session: nox.Session) -> None:
    """Make the pretrained weights shipped in the package (src/moola/weights/pretrained.pt)
    with the one command of README "Pretraining" (``moola.train.init.SHIPPED_COMMAND``): the
    synthetic market only. Hours on a CPU; args after -- are added to the command."""
    install_project(session, "cli")
    session.run(
        "python",
        "-c",
        "import sys; from moola.cli import main; from moola.train.init import SHIPPED_COMMAND; "
        "sys.exit(main([*SHIPPED_COMMAND, *sys.argv[1:]]))",
        *session.posargs,
    )


@nox.session
def lint(session: nox.Session) -> None:
    """ruff, then the import contracts of pyproject.toml (the package layers, no cycles): a
    back-edge between layers or an import cycle anywhere in src/ fails here."""
    session.install(RUFF, IMPORT_LINTER)
    # scripts/gpu-check has no .py suffix, so ruff checks it only when named.
    session.run("ruff", "check", "src", "tests", "noxfile.py", "scripts/gpu-check")
    session.run("ruff", "format", "--check", "src", "tests", "noxfile.py", "scripts/gpu-check")
    # Static analysis only (grimp reads the source): nothing is imported or installed.
    session.run("lint-imports", env={"PYTHONPATH": "src"})


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy on src/ with every optional dependency installed (the ``test`` extra: every
    runtime extra plus pytest and syrupy, which ``moola.testing`` imports), so their types
    are checked too."""
    install_project(session, "test")
    session.install(MYPY)
    session.run("mypy", "src/moola")
