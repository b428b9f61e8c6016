"""The README and the site's pages point at things that exist: links and anchors, test
files, ``moola.x.y`` names; and the README stays the short entry point (issue 30)."""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path

import pytest

from tests.unit.docs.markdown import FENCE, PAGES, ROOT, all_blocks, anchors, links, rel

README = ROOT / "README.md"
SITE_PAGES = [p for p in PAGES if p != README]


def _hooks():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hooks = _hooks()


def rendered(page: Path) -> str:
    """A page's markdown as the site builds it (the CLI reference and included files filled in)."""
    return str(hooks.on_page_markdown(page.read_text(encoding="utf-8"), None, None, None))


def test_the_readme_is_the_short_entry_point() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    quickstart = [
        'pip install "torch==2.13.0" ".[all]" && moola train',
        "pip install nox && nox -s tests",  # CI runs the README's test command
    ]
    for command in quickstart:
        assert command in text
    assert "docs/getting-started.md" in text


@pytest.mark.parametrize("page", PAGES, ids=[rel(p) for p in PAGES])
def test_every_relative_link_and_anchor_exists(page: Path) -> None:
    text = page.read_text(encoding="utf-8") if page == README else rendered(page)
    broken = []
    for target in links(text):
        if re.match(r"[a-z]+:", target):  # http:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if page != README and file.suffix != ".md" and file.is_dir():
            file = file / "index.md"
        if not file.exists():
            broken.append(target)
        elif anchor and file.suffix == ".md":
            inside = file.read_text(encoding="utf-8") if file == README else rendered(file)
            if anchor not in anchors(inside):
                broken.append(target)
    assert not broken, f"{rel(page)}: {broken}"


def _prose(page: Path) -> str:
    return page.read_text(encoding="utf-8")


NAME = re.compile(r"(?<![\w./-])moola(?:\.[A-Za-z_]\w*)+")


def _resolves(name: str) -> bool:
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attribute in parts[i:]:
                obj = getattr(obj, attribute)
        except AttributeError:
            return False
        return True
    return False


@pytest.mark.parametrize("page", PAGES, ids=[rel(p) for p in PAGES])
def test_every_moola_name_exists(page: Path) -> None:
    names = sorted(set(NAME.findall(_prose(page))))
    missing = [name for name in names if not _resolves(name)]
    assert not missing, f"{rel(page)} names what does not exist: {missing}"


#: A path in backticks under one of the repository's folders.
REPO_PATH = re.compile(r"`((?:tests|src|scripts|golden|docs)/[^`\s<>*{}]*)`")
#: A test module named relative to tests/unit (or tests/), as the tables name them.
TEST_FILE = re.compile(r"`((?:[\w]+/)*test_\w+\.py)`")
#: A test function named on its own.
TEST_NAME = re.compile(r"`(test_\w+)`")


def _test_file_exists(name: str) -> bool:
    return any(
        (ROOT / base / name).exists() for base in ("", "tests", "tests/unit", "tests/regression")
    )


@pytest.mark.parametrize("page", PAGES, ids=[rel(p) for p in PAGES])
def test_every_path_and_test_named_exists(page: Path) -> None:
    text = _prose(page)
    missing = [p for p in REPO_PATH.findall(text) if not (ROOT / p.split("::")[0]).exists()]
    missing += [t for t in TEST_FILE.findall(text) if not _test_file_exists(t)]
    defined = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("*.py"))
    defined += "\n".join(b.code for b in all_blocks())
    missing += [t for t in TEST_NAME.findall(text) if f"def {t}(" not in defined]
    assert not missing, f"{rel(page)}: {missing}"


def test_every_test_module_in_the_bad_input_table_exists() -> None:
    rows = [
        line
        for line in _prose(ROOT / "docs" / "bad-input.md").splitlines()
        if re.match(r"\| \d+ \|", line)
    ]
    assert len(rows) >= 70
    missing = []
    for row in rows:
        for name in row.rstrip(" |").rsplit(" | ", 1)[1].split(","):
            name = name.strip()
            path = (
                ROOT / "tests" / ("" if name.startswith("regression/") else "unit") / f"{name}.py"
            )
            if not path.is_file():
                missing.append(f"{row.split('|')[1].strip()}: {name}")
    assert not missing


def test_no_page_mentions_the_old_markers_or_the_old_readme_sections() -> None:
    """The README's long sections moved to the site: no page sends a reader back there."""
    for page in PAGES:
        prose = FENCE.sub("", _prose(page))
        assert "the block below is run by" not in prose, rel(page)
        assert not re.search(r"README[ ,]+(\"|“)?[A-Z`]", prose), (
            f"{rel(page)} points into the README"
        )


def test_the_checks_catch_what_the_old_readme_had_gone_stale_on() -> None:
    """Names and paths the 1,150-line README still mentioned after the restructure."""
    assert _resolves("moola.verdict.judge_head") and _resolves("moola.data.read_series")
    for stale in (
        "moola.train.metrics.verdict",
        "moola.data.overlap.choose_split",
        "moola.train.verdict",
    ):
        assert not _resolves(stale), stale
    assert _test_file_exists("train/loop/test_telemetry.py")
    assert not _test_file_exists("train/test_outdir.py")
    text = "# Title\n\n## The `moola label` rule\n\n[x](#the-moola-label-rule) [y](#nope)\n"
    assert anchors(text) == {"title", "the-moola-label-rule"}
    assert links(text) == ["#the-moola-label-rule", "#nope"]
