"""Where a store lives on disk, how it is named, and how it is written so that no reader ever
sees half of it.

**Key.** A store's folder is named by a digest of everything its arrays depend on: the
source's content (its bytes, hashed), the window, the feature set and every feature
setting, the input semantics, and the code that computes them (:func:`code_digest`, the
bytes of the feature and store modules). Any change gives another name, so a store built
from another version of a file, with other settings or by other feature code is never
opened: it is rebuilt. Stores of older versions of the same file are removed once the new
one is written.

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

import hashlib
import json
import mmap
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from moola.errors import MoolaError

#: Bump when the files' layout changes (older stores are then rebuilt).
STORE_FORMAT = 1
MANIFEST = "manifest.json"
SUFFIX = ".store"
NEXT_TO_DATA = ".moola-cache"
ENV = "MOOLA_CACHE"
#: The modules whose code decides a store's numbers (hashed into every key).
CODE_MODULES = (
    "moola.data.features.registry",
    "moola.data.features.candles",
    "moola.data.features.swing",
    "moola.data.features.move",
    "moola.data.store.plan",
    "moola.data.store.scan",
    "moola.data.store.engine",
    "moola.data.store.layout",
    "moola.data.store.build",
)


class StoreError(MoolaError):
    """A store could not be built, written or read; the message names the file."""


class StoreDamaged(StoreError):
    """A store folder's files do not match its manifest: it is rebuilt."""


def code_digest() -> str:
    """sha256 of the feature and store modules' source bytes (and numpy's version)."""
    import importlib

    digest = hashlib.sha256(f"numpy {np.__version__};".encode())
    for name in CODE_MODULES:
        module = importlib.import_module(name)
        path = Path(module.__file__ or "")
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


class RowFile:
    """A .npy file written whole rows at a time with ``os.pwrite`` (``f[rows] = values``).

    Nothing is mapped, so the pages written belong to the page cache, not to the process:
    building a store larger than the memory it may use costs no more than one block.
    """

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: Any) -> None:
        self.path, self.shape, self.dtype = path, tuple(shape), np.dtype(dtype)
        self.row_bytes = self.dtype.itemsize * int(np.prod(self.shape[1:], dtype=np.int64))
        header = {
            "descr": np.lib.format.dtype_to_descr(self.dtype),
            "fortran_order": False,
            "shape": self.shape,
        }
        with path.open("wb") as handle:
            np.lib.format.write_array_header_1_0(handle, header)
            self.offset = handle.tell()
            handle.truncate(self.offset + self.row_bytes * self.shape[0])
        self.fd: int | None = os.open(path, os.O_WRONLY)

    def __setitem__(self, rows: slice | np.ndarray, values: np.ndarray) -> None:
        if isinstance(rows, slice):
            start, stop, step = rows.indices(self.shape[0])
            if step != 1:
                raise ValueError("a store file is written in runs of consecutive rows")
            self._write(start, self._rows(values, stop - start))
            return
        index = np.asarray(rows, dtype=np.int64).reshape(-1)
        data = self._rows(values, len(index))
        runs = np.flatnonzero(np.diff(index) != 1) + 1  # where consecutive rows break
        for a, b in zip(np.r_[0, runs], np.r_[runs, len(index)]):
            self._write(int(index[a]), data[a:b])

    def _rows(self, values: Any, n: int) -> np.ndarray:
        """``values`` as n contiguous rows of this file (broadcast as numpy would)."""
        shaped = np.broadcast_to(np.asarray(values, dtype=self.dtype), (n, *self.shape[1:]))
        return np.ascontiguousarray(shaped).reshape(n, -1)

    def _write(self, row: int, data: np.ndarray) -> None:
        if self.fd is None:
            raise ValueError(f"{self.path} is closed")
        if row < 0 or row + len(data) > self.shape[0]:
            raise IndexError(f"rows {row}..{row + len(data) - 1} outside {self.path}")
        view = data.reshape(-1).view(np.uint8).data
        position = self.offset + row * self.row_bytes
        while len(view):
            written = os.pwrite(self.fd, view, position)
            view, position = view[written:], position + written

    def read_back(self, chunk: int = 8 << 20) -> Iterator[bytes]:
        """The data bytes, read from the file (not mapped) ``chunk`` bytes at a time."""
        end = self.offset + self.row_bytes * self.shape[0]
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            while handle.tell() < end:
                yield handle.read(min(chunk, end - handle.tell()))

    def close(self) -> None:
        """fsync and close (the bytes are on disk when this returns)."""
        if self.fd is not None:
            os.fsync(self.fd)
            os.close(self.fd)
            self.fd = None


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


def open_array(folder: Path, file: str, spec: dict[str, Any]) -> np.ndarray:
    """A store file, memory-mapped read-only and checked against its manifest entry.

    The map is advised as randomly accessed: a drawn window reads only its own pages from a
    file that is not cached yet, not the kernel's read-ahead around them. A file that does
    not match its manifest is :class:`StoreDamaged`; a file that cannot be mapped (a cap on
    the address space) is a plain :class:`StoreError`, and the store is left alone.
    """
    path = folder / file
    try:
        with path.open("rb") as handle:
            try:
                version = np.lib.format.read_magic(handle)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
                else:
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
            except ValueError as exc:
                raise StoreDamaged(f"{path}: unreadable store file ({exc})") from exc
            offset = handle.tell()
            size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            if fortran or os.fstat(handle.fileno()).st_size < offset + size:
                raise StoreDamaged(f"{path}: the file is shorter than its header says")
            if list(shape) != list(spec["shape"]) or dtype.str != spec["dtype"]:
                raise StoreDamaged(
                    f"{path}: expected {spec['dtype']} {tuple(spec['shape'])}, "
                    f"found {dtype.str} {shape}"
                )
            if not size:
                return np.empty(shape, dtype=dtype)
            mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    except FileNotFoundError as exc:
        raise StoreDamaged(f"{path}: the file is missing") from exc
    except OSError as exc:
        raise StoreError(
            f"cannot map {path}: {exc.strerror or exc} (a cap on the address space, "
            "ulimit -v, counts memory-mapped files)"
        ) from exc
    if hasattr(mapped, "madvise") and hasattr(mmap, "MADV_RANDOM"):
        mapped.madvise(mmap.MADV_RANDOM)
    count = size // dtype.itemsize
    return np.frombuffer(mapped, dtype=dtype, count=count, offset=offset).reshape(shape)
