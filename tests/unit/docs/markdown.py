"""The README's and the site's markdown, read as the docs tests need it: fenced code blocks
with the marker that precedes them, the moola commands in shell blocks, headings' anchors
and links. Shared by the tests of tests/unit/docs."""

from __future__ import annotations

import re
import shlex
import unicodedata
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
#: Every page whose examples are held to the code: the README and the site's pages.
PAGES = (ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")))
SHELL = ("bash", "sh", "shell", "console")
FENCE = re.compile(r"^```(?P<lang>[\w-]*)[^\n]*\n(?P<code>.*?)^```[ \t]*$", re.M | re.S)
MARKER = re.compile(r"^<!--\s*(?P<body>.*?)\s*-->[ \t]*$")
SEPARATORS = {"&&", "||", ";", "|", "&"}


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@dataclass(frozen=True)
class Block:
    """A fenced code block: where it is, its language, its code and its marker (the HTML
    comment on the line right above it: ``run``, ``run: pytest ARGS``, ``not-run: REASON``)."""

    page: str
    line: int
    lang: str
    code: str
    marker: str | None

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def not_run(self) -> bool:
        return self.marker is not None and self.marker.startswith("not-run:")

    @property
    def run_in(self) -> str | None:
        """``<!-- run-in: FILE -->``: the test file that runs this block (where what it needs
        exists anyway), or None."""
        if self.marker is None or not self.marker.startswith("run-in: "):
            return None
        return self.marker.removeprefix("run-in: ").strip()

    @property
    def pytest_args(self) -> list[str] | None:
        """The marker's pytest arguments for a block that is a test file; else None."""
        if self.marker is None or not re.match(r"run: pytest\b", self.marker):
            return None
        return shlex.split(self.marker.removeprefix("run: pytest"))


def blocks(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        above = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = MARKER.match(above)
        lang = match["lang"].lower()
        found.append(
            Block(rel(path), line, lang, match["code"], marker["body"] if marker else None)
        )
    return found


def all_blocks() -> list[Block]:
    return [block for page in PAGES for block in blocks(page)]


def commands(code: str) -> list[list[str]]:
    """The commands of a shell block: continuation lines joined, comments dropped, split at
    ``&&``, ``|``, ``;``; a leading ``$ `` prompt is dropped."""
    joined = re.sub(r"\\\n", " ", code)
    out: list[list[str]] = []
    for line in joined.splitlines():
        lexer = shlex.shlex(line.removeprefix("$ "), posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        current: list[str] = []
        for token in lexer:
            if token in SEPARATORS:
                out.append(current)
                current = []
            else:
                current.append(token)
        out.append(current)
    return [c for c in out if c]


def moola_args(command: list[str]) -> list[str] | None:
    """The arguments after ``moola`` (or ``python -m moola``), or None for another program."""
    words = [w for w in command if not re.match(r"^[A-Z_][A-Z0-9_]*=", w)]  # VAR=value prefixes
    if words[:1] == ["moola"]:
        return words[1:]
    if len(words) >= 3 and re.match(r"python3?$", words[0]) and words[1:3] == ["-m", "moola"]:
        return words[3:]
    return None


def slug(heading: str) -> str:
    """A heading's anchor as Python-Markdown's toc makes it (mkdocs' default)."""
    text = re.sub(r"<[^>]+>|[`*]", "", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def anchors(markdown: str) -> set[str]:
    """Every heading's anchor, and explicit ``<a id="...">`` anchors, outside code blocks."""
    prose = FENCE.sub("", markdown)
    found = {slug(m[1]) for m in re.finditer(r"^#{1,6}\s+(.*?)\s*#*\s*$", prose, re.M)}
    return found | set(re.findall(r'<a id="([^"]+)"', prose))


LINK = re.compile(r"(?<!!)\[[^\]]*\]\((?P<target>[^)\s]+)\)")


def links(markdown: str) -> list[str]:
    """The link targets in prose (not in code blocks or code spans)."""
    prose = re.sub(r"`[^`\n]*`", "", FENCE.sub("", markdown))
    return [m["target"] for m in LINK.finditer(prose)]
