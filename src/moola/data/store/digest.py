"""Digests: what names a cached store (its source, settings and code) and what fingerprints
a store's data (the bytes of its arrays).

The code digest hashes the source of every module of the feature registry and of the store
itself, so any change to the code that computes the numbers names new stores: a store built
by other code is never opened.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from moola.data.store.arrays import RowFile, StoreError

#: Bump when the files' layout changes (older stores are then rebuilt).
STORE_FORMAT = 1
#: The packages whose code decides a store's numbers (every module's bytes are hashed).
CODE_PACKAGES = ("moola.data.features", "moola.data.store")
#: Single modules whose code decides a store's arrays too (the labels of a labelled series).
CODE_MODULES = ("moola.data.labeling",)


def code_digest() -> str:
    """Digest of the feature and store packages' source bytes (and numpy's version)."""
    import importlib

    digest = _hasher()
    digest.update(f"numpy {np.__version__};".encode())
    for package in CODE_PACKAGES:
        folder = Path(importlib.import_module(package).__file__ or "").parent
        for path in sorted(folder.glob("*.py")):
            digest.update(f"{package}.{path.stem}".encode() + b"\0" + path.read_bytes())
    for name in CODE_MODULES:
        path = Path(importlib.import_module(name).__file__ or "")
        digest.update(name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _hasher() -> Any:
    """BLAKE2b (32 bytes): as strong as sha256 here, and faster on long data."""
    return hashlib.blake2b(digest_size=32)


def file_digest(path: Path) -> str:
    """Digest of a file's bytes, read 1 MB at a time."""
    digest = _hasher()
    try:
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    except OSError as exc:
        raise StoreError(f"could not read {path}: {exc.strerror or exc}") from exc
    return digest.hexdigest()


def array_digest(arrays: Iterator[tuple[str, Any]]) -> str:
    """Digest of named arrays (or :class:`RowFile`s): each one's name, dtype and shape, then
    its bytes (the same digest either way)."""
    digest = _hasher()
    for name, array in arrays:
        if array is None:
            digest.update(f"{name}:none;".encode())
            continue
        if isinstance(array, RowFile):
            digest.update(f"{name}:{array.dtype.str}:{array.shape};".encode())
            for chunk in array.read_back():
                digest.update(chunk)
            continue
        a = np.ascontiguousarray(array)
        digest.update(f"{name}:{a.dtype.str}:{a.shape};".encode())
        digest.update(a.reshape(-1).view(np.uint8).data)
    return digest.hexdigest()


def store_key(identity: dict[str, Any]) -> str:
    """The digest that names a store: its identity (source, settings) and the code's digest."""
    document = {"format": STORE_FORMAT, "code": code_digest(), **identity}
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()
