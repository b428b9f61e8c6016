"""Where a store lives on disk, how it is named, and how it is written so that no reader ever
sees half of it.

**Key.** A store's folder is named by a digest of everything its arrays depend on: the
source's content (its bytes, hashed), the window, the feature set and every feature
setting, the input semantics, and the code that computes them (the bytes of the feature and
store modules, :func:`moola.data.store.digest.code_digest`). Any change gives another name,
so a store built from another version of a file, with other settings or by other feature
code is never opened: it is rebuilt. Stores of older versions of the same file are removed
once the new one is written.

**Atomic.** A store is built in a temporary folder (``.NAME.HEX.tmp``), its files flushed
and fsynced, its manifest written last, and the folder renamed to its final name in one
step. A build interrupted at any point leaves at most a temporary folder, which is never
read; a folder with the final name is complete. When two processes build the same store,
the first rename wins and the other opens it.

**Where.** ``$MOOLA_CACHE`` when set; otherwise a ``.moola-cache`` folder next to the data
file, and when that folder cannot be written (a read-only data folder), the user's cache
folder (``$XDG_CACHE_HOME/moola``, else ``~/.cache/moola``), with a notice.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from moola.data.store.arrays import RowFile, StoreError

MANIFEST = "manifest.json"
SUFFIX = ".store"
NEXT_TO_DATA = ".moola-cache"
ENV = "MOOLA_CACHE"


def user_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "moola"


def cache_roots(source: Path | None) -> list[Path]:
    """Where a store of ``source`` may live, in order of preference."""
    explicit = os.environ.get(ENV)
    if explicit:
        return [Path(explicit)]
    roots = [source.resolve().parent / NEXT_TO_DATA] if source is not None else []
    return [*roots, user_cache_dir()]


def entry_name(stem: str, key: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)[:80] or "store"
    return f"{safe}.{key[:20]}{SUFFIX}"


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of a store folder, or None when it is missing or unreadable."""
    try:
        document = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def find(roots: list[Path], name: str, key: str) -> Path | None:
    """The complete store folder named ``name`` whose manifest has ``key``, in the first root."""
    for root in roots:
        folder = root / name
        manifest = read_manifest(folder) if folder.is_dir() else None
        if manifest is not None and manifest.get("key") == key:
            return folder
    return None


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Building:
    """A store being written in a temporary folder; :meth:`array` makes its files."""

    def __init__(self, root: Path, name: str) -> None:
        self.root, self.name = root, name
        self.folder = root / f".{name}.{secrets.token_hex(6)}.tmp"
        self.folder.mkdir(parents=True)
        self.files: list[RowFile] = []

    def array(self, file: str, shape: tuple[int, ...], dtype: Any) -> RowFile:
        """A .npy file of the store, written row by row."""
        rows = RowFile(self.folder / file, shape, dtype)
        self.files.append(rows)
        return rows

    def finish(self) -> None:
        """fsync and close every file (they may then be read back)."""
        for rows in self.files:
            rows.close()

    def commit(self, manifest: dict[str, Any]) -> Path:
        """fsync every file, write the manifest, and rename the folder into place."""
        self.finish()
        text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
        manifest_path = self.folder / MANIFEST
        with manifest_path.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        _fsync(self.folder)
        final = self.root / self.name
        try:
            os.rename(self.folder, final)
        except OSError:
            if read_manifest(final) is None:  # not another complete build of the same store
                raise
            shutil.rmtree(self.folder, ignore_errors=True)  # another process was first
        _fsync(self.root)
        return final

    def abort(self) -> None:
        for rows in self.files:
            if rows.fd is not None:
                os.close(rows.fd)
                rows.fd = None
        shutil.rmtree(self.folder, ignore_errors=True)


@contextmanager
def building(
    roots: list[Path], name: str, what: str, notify: Callable[[str], None]
) -> Iterator[Building]:
    """A :class:`Building` in the first root that can be written; removed unless committed."""
    reasons = []
    build: Building | None = None
    for i, root in enumerate(roots):
        try:
            build = Building(root, name)
        except OSError as exc:
            reasons.append(f"{root}: {exc.strerror or exc}")
            if i + 1 < len(roots):
                notify(
                    f"cannot write the store of {what} in {root} ({exc.strerror or exc}); "
                    f"using {roots[i + 1]} instead"
                )
            continue
        break
    if build is None:
        raise StoreError(
            f"cannot write the store of {what} anywhere: {'; '.join(reasons)}. "
            f"Set {ENV} to a writable folder"
        )
    try:
        yield build
    except BaseException:
        build.abort()
        raise


def remove_stale(root: Path, keep: str, source: str, digest: str) -> None:
    """Remove stores of ``source`` built from other versions of it (another content digest)."""
    for folder in root.glob(f"*{SUFFIX}"):
        if folder.name == keep:
            continue
        manifest = read_manifest(folder)
        if manifest is None:
            continue
        origin = manifest.get("source", {})
        if origin.get("path") == source and origin.get("digest") != digest:
            shutil.rmtree(folder, ignore_errors=True)
