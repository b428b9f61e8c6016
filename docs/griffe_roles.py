"""A griffe extension for the API pages: the docstrings' Sphinx roles (``:func:`x```,
``:class:`~a.b.C```) shown as code, as a reader of the source sees them, instead of raw
role markup."""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(
    r":(?:py:)?(?:func|class|meth|mod|data|attr|exc|obj):`(?P<tilde>~?)(?P<target>[^`]+)`"
)


def plain(text: str) -> str:
    """``:role:`~a.b.c``` -> ```c```; ``:role:`a.b.c``` -> ```a.b.c```."""

    def code(match: re.Match[str]) -> str:
        target = match["target"]
        return f"`{target.rsplit('.', 1)[-1] if match['tilde'] else target}`"

    return ROLE.sub(code, text)


class SphinxRoles(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = plain(obj.docstring.value)
