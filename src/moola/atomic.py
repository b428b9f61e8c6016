"""Atomic file writes: a crash or a full disk mid-write never leaves a truncated or half-new file.

Everything moola writes goes through :func:`atomic_write`: the bytes go to a temporary file in
the target's folder, are flushed to disk, and the file is then renamed over the target
(``os.replace`` is atomic on POSIX and Windows). On any failure the temporary file is removed,
the previous file is left as it was, and the error names the path.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from moola.errors import MoolaError

_O_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation


#: Names of the temporary files: a dot, the target's name, 12 hex digits, ``.tmp``.
TEMP_NAME = re.compile(r"^\.(?P<target>.+)\.[0-9a-f]{12}\.tmp$")


def temp_name(target: str) -> str:
    """A fresh temporary name for writing ``target`` (matches :data:`TEMP_NAME`)."""
    return f".{target}.{secrets.token_hex(6)}.tmp"


class WriteError(MoolaError):
    """A file could not be written; the previous version (if any) is intact."""


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], object]) -> Path:
    """Call ``write(handle)`` on a temporary file, then rename it over ``path``."""
    path = Path(path)
    tmp_name: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Like mkstemp, but with the mode a plain open() gives (0666 less the umask), not 0600.
        tmp_name = str(path.parent / temp_name(path.name))
        fd = os.open(tmp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o666)
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except OSError as exc:
        if tmp_name is not None:
            Path(tmp_name).unlink(missing_ok=True)
        reason = exc.strerror or str(exc)
        raise WriteError(
            f"could not write {path}: {reason}; the previous file is unchanged"
        ) from exc
    except BaseException:
        if tmp_name is not None:
            Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    return atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def atomic_write_json(path: str | os.PathLike[str], document: Any) -> Path:
    """``document`` as indented JSON (NaN is written as JSON's non-standard ``NaN``)."""
    return atomic_write_text(path, json.dumps(document, indent=2) + "\n")
