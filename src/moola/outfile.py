"""Check an output file's path before any work: its suffix says its format, and it can be written."""

from __future__ import annotations

import os
from pathlib import Path

from moola.errors import ConfigError


def check_out_file(path: str | os.PathLike[str], suffix: str, flag: str = "--out") -> Path:
    """Refuse an output path with another suffix (a parquet under a .csv name), a folder, or
    a place that cannot be written, naming the flag."""
    out = Path(path)
    if out.suffix.lower() != suffix:
        raise ConfigError(
            f"{flag} {out} must end in {suffix} (the file is written as {suffix[1:]})"
        )
    if out.is_dir():
        raise ConfigError(f"{flag} {out} is a folder; name a {suffix} file")
    parent = out.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"cannot write {flag} {out}: {parent} is not a folder")
    if not os.access(parent, os.W_OK):
        raise ConfigError(f"cannot write {flag} {out}: folder {parent} is not writable")
    return out
