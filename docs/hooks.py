"""mkdocs hooks: the CLI reference rendered from the parsers, and the root's BENCHMARKS.md and
QUALITY.md included as pages, so that nothing generated or copied is committed to drift.

A line ``<!-- cli-reference -->`` in a page becomes :func:`gen_cli.render`'s markdown;
``<!-- include: FILE -->`` becomes FILE (relative to the repository root), its links, which
are written for reading from the root, pointed at the site's pages.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# The site documents this checkout, whatever moola is installed.
sys.path.insert(0, str(ROOT / "src"))

#: Markers stand on a line of their own (so that a page can mention them in a code span).
CLI_MARKER = re.compile(r"^<!-- cli-reference -->$", re.M)
INCLUDE = re.compile(r"^<!-- include: (?P<file>[\w./-]+) -->$", re.M)
LINK = re.compile(r"\]\((?P<target>[^)\s#]*)(?P<anchor>#[^)\s]*)?\)")
#: Root files that are pages of the site, and the page each one is.
ROOT_PAGES = {"README.md": "index.md", "BENCHMARKS.md": "benchmarks.md", "QUALITY.md": "quality.md"}


def _gen_cli() -> Any:
    spec = importlib.util.spec_from_file_location(
        "moola_docs_gen_cli", ROOT / "docs" / "gen_cli.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def site_link(target: str) -> str:
    """A link written from the repository root, as the site's page links it."""
    if target in ROOT_PAGES:
        return ROOT_PAGES[target]
    return target.removeprefix("docs/")


def include(path: str) -> str:
    """A root file's text with its links pointed at the site's pages."""
    text = (ROOT / path).read_text(encoding="utf-8")
    return LINK.sub(lambda m: f"]({site_link(m['target'])}{m['anchor'] or ''})", text)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if CLI_MARKER.search(markdown):
        markdown = CLI_MARKER.sub(lambda _: _gen_cli().render(), markdown)
    return INCLUDE.sub(lambda m: include(m["file"]), markdown)
