"""A store's files: .npy arrays written whole rows at a time, opened as read-only maps.

Writing goes through ``os.pwrite`` (:class:`RowFile`), never a map, so the pages written
belong to the page cache and not to the building process. Reading maps each file read-only
(:func:`open_array`) and checks it against the manifest: a mismatch is
:class:`StoreDamaged` (the store is rebuilt), a file that cannot be mapped is a plain
:class:`StoreError` (the store is kept).
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from moola.errors import MoolaError


class StoreError(MoolaError):
    """A store could not be built, written or read; the message names the file."""


class StoreDamaged(StoreError):
    """A store folder's files do not match its manifest: it is rebuilt."""


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


def read_rows(path: Path, start: int, stop: int) -> np.ndarray:
    """Rows ``start..stop-1`` of a store's .npy file, read rather than mapped: a scan of a
    whole file (every bar's hash) leaves its pages in the page cache, not in the process."""
    with path.open("rb") as handle:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
        per_row = int(np.prod(shape[1:], dtype=np.int64))
        stop = min(stop, int(shape[0]))
        handle.seek(handle.tell() + start * per_row * dtype.itemsize)
        rows = np.fromfile(handle, dtype=dtype, count=max(0, stop - start) * per_row)
    return rows.reshape(-1, *shape[1:])


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
