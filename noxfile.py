"""Developer tasks. ``nox -s tests`` is the CI gate; ``nox -l`` lists every session.

Every session installs a pinned, CPU-friendly torch first: an unpinned ``torch`` resolves
to a multi-GB CUDA build. Override the pin with ``MOOLA_TORCH`` (e.g. ``MOOLA_TORCH=
"torch==2.5.1"``) to test another release.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import nox

nox.options.sessions = ["tests"]
nox.options.error_on_missing_interpreters = True

TORCH = os.environ.get("MOOLA_TORCH", "torch==2.13.0")
# Linters are pinned: a new ruff or mypy release must not turn a green main red.
RUFF = "ruff==0.17.6"
IMPORT_LINTER = "import-linter==2.17"
MYPY = "mypy==2.4.1"
# The mutation tester (nox -s mutants); its settings are pyproject.toml's [tool.mutmut].
MUTMUT = "mutmut==3.8.1"

#: What ``nox -s mutants`` mutates, package by package: the files (mutmut's ``only_mutate``)
#: and the fast unit tests that must kill their mutants. Per mutant, mutmut runs only those of
#: these tests that call the mutated function.
MUTANT_PACKAGES: dict[str, tuple[list[str], list[str]]] = {
    # test_gradient_balance trains 50-step runs (a minute per mutant): left to nox -s tests.
    "balancing": (
        ["src/moola/balancing/*"],
        ["tests/unit/balancing", "--ignore=tests/unit/balancing/test_gradient_balance.py"],
    ),
    "splits": (
        ["src/moola/data/splits.py", "src/moola/data/overlap.py"],
        [
            "tests/unit/data/test_splits.py",
            "tests/unit/data/test_overlap.py",
            "tests/unit/data/test_dataset.py",
            # the folds' rule (not the runs: those train)
            "tests/unit/train/test_folds.py::test_folds_expand_and_no_test_window_shares_a_bar_with_its_training",
            "tests/unit/train/test_folds.py::test_pre_cut_windows_get_their_recovered_timeline",
            "tests/unit/train/test_folds.py::test_windows_that_share_nothing_are_one_series_in_row_order",
        ],
    ),
    "testing": (["src/moola/testing/*"], ["tests/unit/testing"]),
    # The verdict's own tests, less the two that build a Trainer: building its optimizer
    # imports torch's compiler (seconds per mutant); fast tests pin the same numbers.
    "verdict": (
        ["src/moola/verdict/*"],
        [
            "tests/unit/verdict",
            "--deselect=tests/unit/verdict/test_interval.py::test_metrics_json_carries_the_split_and_the_intervals_bit_identically",
            "--deselect=tests/unit/verdict/test_rules.py::test_baselines_and_metric_constants_come_from_the_training_split",
        ],
    ),
    # The folds' runs (fold_indices and timeline are in splits.py, mutated with "splits").
    "folds": (["src/moola/train/folds.py"], ["tests/unit/train/test_folds_fast.py"]),
    "threads": (["src/moola/threads.py"], ["tests/unit/test_threads_boundaries.py"]),
}


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
        # measurements that a shared machine makes noisy (nox -s memory); fuzzing (nox -s fuzz)
        "not memory and not fuzz",
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
def fuzz(session: nox.Session) -> None:
    """schemathesis fuzzing of ``moola serve``'s OpenAPI schema against a running server: 200
    derandomized examples per operation and mode, no 5xx allowed (about a minute)."""
    install_project(session, "test")
    session.run(
        "pytest",
        "tests/unit/serve/test_fuzz.py",
        "-m",
        "fuzz",
        "-s",
        *session.posargs,
        env={"OMP_NUM_THREADS": "1"},
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
def docs(session: nox.Session) -> None:
    """The documentation site (mkdocs.yml, docs/) built into site/ with ``--strict``: a broken
    link or anchor, or an API reference to a name that does not exist, fails. It needs no
    network while building. The CLI reference is rendered from the parsers (docs/hooks.py),
    so the project is installed; its examples run in ``nox -s tests`` (tests/unit/docs)."""
    install_project(session, "docs")
    session.run("mkdocs", "build", "--strict", *session.posargs, env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session
def lint(session: nox.Session) -> None:
    """ruff, then the import contracts of pyproject.toml (the package layers, no cycles): a
    back-edge between layers or an import cycle anywhere in src/ fails here."""
    session.install(RUFF, IMPORT_LINTER)
    # scripts/gpu-check has no .py suffix, so ruff checks it only when named.
    session.run("ruff", "check", "src", "tests", "docs", "noxfile.py", "scripts/gpu-check")
    session.run(
        "ruff", "format", "--check", "src", "tests", "docs", "noxfile.py", "scripts/gpu-check"
    )
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


@nox.session
def mutants(session: nox.Session) -> None:
    """Mutation testing with mutmut, one package at a time (QUALITY.md, "Mutation testing").

    ``nox -s mutants`` runs every package of :data:`MUTANT_PACKAGES`; ``nox -s mutants --
    balancing splits`` runs those. Each package runs in its own folder ``mutants/<package>/``
    (a copy of src/, tests/ and docs/ with the package's files and tests in its [tool.mutmut]), so
    each has its own results: ``cd mutants/<package> && mutmut results`` lists the survivors,
    ``mutmut show NAME`` shows one. Hypothesis runs derandomized (``CI=1``), so a rerun judges
    every mutant on the same examples. Survivors listed in ``tests/mutants_equivalent.txt``
    (no observable change, each with its reason) are reported apart; any other survivor fails
    the session.
    """
    install_project(session, "test")
    session.install(MUTMUT)
    chosen = session.posargs or list(MUTANT_PACKAGES)
    unknown = sorted(set(chosen) - set(MUTANT_PACKAGES))
    if unknown:
        session.error(f"unknown package(s) {unknown}; choose from {sorted(MUTANT_PACKAGES)}")
    equivalent = _equivalent_mutants(Path("tests/mutants_equivalent.txt"))
    children = str(min(2, os.cpu_count() or 1))
    failed = []
    for name in chosen:
        files, tests = MUTANT_PACKAGES[name]
        work = Path("mutants") / name
        shutil.rmtree(work, ignore_errors=True)  # a fresh measurement, never a stale cache
        work.mkdir(parents=True)
        for folder in ("src", "tests", "docs"):  # the docs' examples are tests
            shutil.copytree(folder, work / folder, ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy2("README.md", work / "README.md")
        settings = (
            f"only_mutate = {json.dumps(files)}\n"
            f"pytest_add_cli_args_test_selection = {json.dumps(tests)}\n"
        )
        text = Path("pyproject.toml").read_text()
        assert "[tool.mutmut]\n" in text, "pyproject.toml has no [tool.mutmut] table"
        (work / "pyproject.toml").write_text(
            text.replace("[tool.mutmut]\n", f"[tool.mutmut]\n{settings}")
        )
        with session.chdir(work):
            start = time.monotonic()
            session.run(
                "mutmut", "run", "--max-children", children, env={"OMP_NUM_THREADS": "1", "CI": "1"}
            )
            seconds = time.monotonic() - start
            session.run("mutmut", "export-cicd-stats", silent=True)
            stats = json.loads(Path("mutants/mutmut-cicd-stats.json").read_text())
            listing = session.run("mutmut", "results", silent=True) or ""
        survivors = [
            line.split(":")[0].strip()
            for line in str(listing).splitlines()
            if line.strip().endswith(": survived")
        ]
        listed = [m for m in survivors if m in equivalent]
        unexplained = [m for m in survivors if m not in equivalent]
        summary = {**stats, "equivalent": len(listed), "seconds": round(seconds)}
        (work / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        session.log(
            f"{name}: {stats['killed']} killed, {stats['survived']} survived "
            f"({len(listed)} listed as equivalent), {stats['timeout']} timeout, "
            f"{stats['no_tests']} without a test, of {stats['total']} mutants in {seconds:.0f} s"
        )
        for mutant in unexplained:
            session.log(f"  survived: {mutant}  (cd {work} && mutmut show {mutant})")
        if unexplained or stats["no_tests"]:
            failed.append(name)
    if failed:
        session.error(
            f"mutants survived in {failed} that tests/mutants_equivalent.txt does not list, or "
            "had no test: write the test each shows missing, or list it there with the reason"
        )


def _equivalent_mutants(path: Path) -> set[str]:
    """Mutant names listed in ``path`` (one per line, ``name  # why it changes nothing``)."""
    if not path.exists():
        return set()
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return {line for line in lines if line}
