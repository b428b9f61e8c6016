"""A write that fails midway (full disk, permission denied) loses nothing and names the path."""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any

import pytest

import moola.atomic
from moola.cli import main
from moola.train import load_checkpoint

RUN = ["--no-progress", "--threads", "1", "--eval-every", "0", "--log-every", "1"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("finished")
    assert main(["train", "--steps", "2", "--batch-size", "8", "--out", str(out), *RUN]) == 0
    return out


class HalfWriter:
    """A file handle that writes half of the first chunk, then fails like a full disk."""

    def __init__(self, handle: IO[bytes], error: OSError) -> None:
        self.handle, self.error = handle, error

    def write(self, data: Any) -> int:
        self.handle.write(bytes(data)[: max(1, len(data) // 2)])
        self.handle.flush()
        raise self.error

    def __getattr__(self, name: str) -> Any:
        return getattr(self.handle, name)

    def __enter__(self) -> HalfWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.close()


def inject(monkeypatch: pytest.MonkeyPatch, target: str, code: int) -> None:
    """Fail writes of ``target``: ENOSPC midway through the bytes, EACCES on creating the file."""
    error = OSError(code, os.strerror(code))
    real_mkstemp, real_fdopen = tempfile.mkstemp, os.fdopen
    doomed: set[int] = set()

    def mkstemp(*args: Any, prefix: str = "", **kwargs: Any) -> tuple[int, str]:
        if prefix.startswith(f".{target}.") and code == errno.EACCES:
            raise error
        fd, name = real_mkstemp(*args, prefix=prefix, **kwargs)
        if prefix.startswith(f".{target}."):
            doomed.add(fd)
        return fd, name

    def fdopen(fd: int, *args: Any, **kwargs: Any) -> Any:
        handle = real_fdopen(fd, *args, **kwargs)
        return HalfWriter(handle, error) if fd in doomed else handle

    monkeypatch.setattr(moola.atomic.tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(moola.atomic.os, "fdopen", fdopen)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES], ids=["ENOSPC", "EACCES"])
@pytest.mark.parametrize("target", ["checkpoint.pt", "metrics.json"])
def test_a_failed_write_keeps_the_previous_files_and_names_the_path(
    target: str,
    code: int,
    finished: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    before = {name: (out / name).read_bytes() for name in ("checkpoint.pt", "metrics.json")}
    inject(monkeypatch, target, code)

    assert main(["train", "--resume", str(out), "--steps", "3", "--out", str(out), *RUN]) == 2
    err = capsys.readouterr().err
    assert f"could not write {out / target}: {os.strerror(code)}" in err
    assert "Traceback" not in err
    monkeypatch.undo()

    assert (out / target).read_bytes() == before[target]  # untouched, byte for byte
    assert load_checkpoint(out)["step"] in (2, 3)  # readable: old, or new when metrics failed
    assert json.loads((out / "metrics.json").read_text())["history"]["step"] == [1, 2]
    leftovers = [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
