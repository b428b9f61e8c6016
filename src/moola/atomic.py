"""Atomic file writes: a crash or a full disk mid-write never leaves a truncated or half-new file.

Everything moola writes goes through :func:`atomic_write`: the bytes go to a temporary file in
the target's folder, are flushed to disk, and the file is then renamed over the target
(``os.replace`` is atomic on POSIX and Windows). On any failure the temporary file is removed,
the previous file is left as it was, and the error names the path.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from moola.errors import MoolaError


class WriteError(MoolaError):
    """A file could not be written; the previous version (if any) is intact."""


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], object]) -> Path:
    """Call ``write(handle)`` on a temporary file, then rename it over ``path``."""
    path = Path(path)
    tmp_name: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
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
