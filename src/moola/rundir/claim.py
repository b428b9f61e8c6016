"""The output folder: checked before training, and held by one run at a time.

:func:`claim_out_dir` fails *before* any training when ``--out`` is a file or cannot be
written, and takes an OS advisory lock on ``.moola.lock`` inside it, so a second
``moola train`` on the same folder refuses instead of interleaving files. ``moola sweep``
holds its ``--out`` the same way, and each of its runs holds the run's folder. The OS drops the
lock when the process ends, however it ends, so a killed run never leaves a stale lock.

The lock file is the one file moola writes in place rather than atomically: the lock
belongs to its inode, and it holds nothing but who holds the lock (for the error message).
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from moola.atomic import TEMP_NAME
from moola.errors import MoolaError
from moola.rundir.layout import BEST_NAME, CHECKPOINT_NAME, LOCK_NAME, METRICS_NAME, PLOT_NAME


class OutDirError(MoolaError):
    """The output folder cannot be used (a file, not writable, or held by another run)."""


def check_out_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` if needed and make sure moola can write there."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutDirError(f"--out {path} is a file, not a folder; choose a folder for the outputs")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutDirError(f"cannot create output folder {path}: {exc.strerror or exc}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutDirError(f"output folder {path} is not writable")
    try:  # what os.access cannot see: a read-only filesystem, a full disk, ACLs
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise OutDirError(f"output folder {path} is not writable: {exc.strerror or exc}") from None
    return path


@contextmanager
def claim_out_dir(
    path: str | os.PathLike[str] | None, command: str = "moola train"
) -> Iterator[Path | None]:
    """Check the folder, hold its lock for the ``with`` block, and clear killed runs' temp files.

    ``command`` is recorded in the lock file, so that a refused run can say who holds the
    folder. ``None`` (no output folder) claims nothing.
    """
    if path is None:
        yield None
        return
    folder = check_out_dir(path)
    lock_path = folder / LOCK_NAME
    try:
        handle = open(lock_path, "a+")  # noqa: SIM115 - held for the whole block
    except OSError as exc:
        raise OutDirError(f"cannot open lock file {lock_path}: {exc.strerror or exc}") from None
    try:
        if not _try_lock(handle):
            raise OutDirError(
                f"output folder {folder} is in use by another moola run ({_holder(lock_path)}); "
                "wait for it to finish or choose another --out"
            )
        handle.seek(0)
        handle.truncate()
        handle.write(
            f"{command}, pid {os.getpid()} on {socket.gethostname()} since "
            f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n"
        )
        handle.flush()
        remove_stale_temp_files(folder)
        yield folder
    finally:
        handle.close()  # closing the file releases the lock


def remove_stale_temp_files(folder: Path) -> list[Path]:
    """Delete the temporary files of writes that a killed run never finished."""
    removed = []
    for entry in folder.iterdir():
        if entry.is_file() and TEMP_NAME.match(entry.name):
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


def _holder(lock_path: Path) -> str:
    try:
        text = lock_path.read_text().strip()
    except OSError:
        text = ""
    return f"held by {text}" if text else "holder unknown"


if sys.platform == "win32":
    import msvcrt

    def _try_lock(handle: IO[str]) -> bool:
        try:
            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

else:
    import fcntl

    def _try_lock(handle: IO[str]) -> bool:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


def previous_run_notice(path: str | os.PathLike[str] | None) -> str | None:
    """What a new run in ``path`` replaces, when the folder holds a finished run (else None)."""
    if path is None or not (Path(path) / METRICS_NAME).is_file():
        return None
    return (
        f"replacing the finished run in {path} (its {METRICS_NAME}, {CHECKPOINT_NAME}, "
        f"{BEST_NAME} and {PLOT_NAME} are overwritten); use --out DIR to keep it"
    )
