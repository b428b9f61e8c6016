"""A griffe extension for the API pages: the docstrings' reStructuredText shown as a reader
of the source sees it: Sphinx roles (``:func:`x```, ``:class:`~a.b.C```) as code, and a
paragraph's ``::`` before a literal block as ``:``, instead of raw markup."""

from __future__ import annotations

import re
from typing import Any

import griffe

LITERAL_BLOCK = re.compile(r"(?<=\S)::$", re.M)
ROLE = re.compile(
    r":(?:py:)?(?:func|class|meth|mod|data|attr|exc|obj):`(?P<tilde>~?)(?P<target>[^`]+)`"
)


def plain(text: str) -> str:
    """``:role:`~a.b.c``` -> ```c```; ``:role:`a.b.c``` -> ```a.b.c```."""

    def code(match: re.Match[str]) -> str:
        target = match["target"]
        return f"`{target.rsplit('.', 1)[-1] if match['tilde'] else target}`"

    return LITERAL_BLOCK.sub(":", ROLE.sub(code, text))


class SphinxRoles(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = plain(obj.docstring.value)
