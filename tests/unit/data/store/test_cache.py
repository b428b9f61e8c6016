"""The store on disk: reused while nothing changed, rebuilt when anything did, never read
half-written, and moved to the user's cache folder when the data folder cannot be written."""

from __future__ import annotations

import mmap
import os
from pathlib import Path

import numpy as np
import pytest

import moola.data.store.assemble as assemble_module
from moola.data import load_windows, save_parquet
from moola.data.features.candles import FeatureSettings
from moola.data.labeling import LabelRule, label_series
from moola.data.signal_free import random_walk_series
from moola.data.store import StoreError, build_store, digest, open_store
from moola.data.store import arrays as store_arrays
from moola.data.store import cache as disk
from moola.errors import DataValidationError

pytest.importorskip("pyarrow")


@pytest.fixture(autouse=True)
def _no_cache_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(disk.ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))


def windows_file(folder: Path, seed: int = 1, name: str = "windows.parquet") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    save_parquet(label_series(random_walk_series(600, seed=seed), LabelRule(stride=15)), path)
    return path


def mapped(array: np.ndarray) -> bool:
    """Whether ``array`` views a memory-mapped file."""
    base: object = array
    while isinstance(base, (np.ndarray, memoryview)):
        base = base.base if isinstance(base, np.ndarray) else base.obj
    return isinstance(base, mmap.mmap)


def stores(root: Path) -> list[str]:
    return sorted(p.name for p in root.glob(f"*{disk.SUFFIX}"))


def test_a_file_store_is_built_once_next_to_the_data_and_reused(tmp_path):
    path = windows_file(tmp_path / "data")
    notices: list[str] = []
    first = open_store(path, cache=True, notify=notices.append)
    assert not first.info.reused and notices == []
    assert Path(first.info.cache or "").parent == tmp_path / "data" / disk.NEXT_TO_DATA
    second = open_store(path, cache=True)
    assert second.info.reused and second.info.cache == first.info.cache
    assert mapped(second.block) and not second.block.flags.writeable  # read as needed
    rows = np.arange(second.n_windows)
    assert np.array_equal(second.inputs(rows).numpy(), first.inputs(rows).numpy())
    assert second.fingerprint == first.fingerprint
    in_memory = open_store(path, cache=False)
    assert np.array_equal(in_memory.inputs(rows).numpy(), first.inputs(rows).numpy())
    # the data fingerprint is the content's: the same however the store was made
    assert in_memory.fingerprint == first.fingerprint
    from_windows = build_store(load_windows(path))
    assert from_windows.fingerprint == first.fingerprint


def test_another_version_of_the_file_is_rebuilt_and_the_old_store_removed(tmp_path):
    path = windows_file(tmp_path / "data", seed=1)
    old = open_store(path, cache=True)
    windows_file(tmp_path / "data", seed=2)  # same name, same size class, new bars
    new = open_store(path, cache=True)
    assert not new.info.reused and new.info.cache != old.info.cache
    assert new.fingerprint != old.fingerprint
    assert stores(tmp_path / "data" / disk.NEXT_TO_DATA) == [Path(new.info.cache or "").name]
    assert not np.array_equal(new.inputs([0]).numpy(), old.inputs([0]).numpy())


def test_other_settings_or_other_feature_code_are_other_stores(tmp_path, monkeypatch):
    path = windows_file(tmp_path / "data")
    base = open_store(path, cache=True)
    others = [
        open_store(path, cache=True, feature_set="original"),
        open_store(path, cache=True, inputs="window"),
        open_store(path, cache=True, settings=FeatureSettings(ema_span=10)),
    ]
    monkeypatch.setattr(digest, "code_digest", lambda: "feature code of another version")
    others.append(open_store(path, cache=True))
    assert all(not s.info.reused for s in others)
    assert len({s.info.cache for s in [base, *others]}) == 5
    assert len(stores(tmp_path / "data" / disk.NEXT_TO_DATA)) == 5


def test_an_interrupted_build_leaves_nothing_that_is_read(tmp_path, monkeypatch):
    path = windows_file(tmp_path / "data")

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # as a kill during the feature build

    monkeypatch.setattr(assemble_module, "featurise", crash)
    with pytest.raises(KeyboardInterrupt):
        open_store(path, cache=True)
    root = tmp_path / "data" / disk.NEXT_TO_DATA
    assert list(root.iterdir()) == []  # the temporary folder is gone too
    monkeypatch.undo()
    monkeypatch.delenv(disk.ENV, raising=False)
    assert not open_store(path, cache=True).info.reused


def test_a_leftover_temporary_folder_is_never_read(tmp_path):
    path = windows_file(tmp_path / "data")
    store = open_store(path, cache=True)
    folder = Path(store.info.cache or "")
    # what kill -9 between the manifest and the rename leaves: a complete-looking temp folder
    leftover = folder.parent / f".{folder.name}.0123456789ab.tmp"
    folder.rename(leftover)
    again = open_store(path, cache=True)
    assert not again.info.reused and Path(again.info.cache or "") == folder


def test_a_damaged_store_is_named_and_rebuilt(tmp_path):
    path = windows_file(tmp_path / "data")
    folder = Path(open_store(path, cache=True).info.cache or "")
    with (folder / "block.npy").open("r+b") as handle:
        handle.truncate(200)
    notices: list[str] = []
    store = open_store(path, cache=True, notify=notices.append)
    assert not store.info.reused
    assert len(notices) == 1 and "block.npy" in notices[0] and "building it again" in notices[0]
    (folder / disk.MANIFEST).unlink()  # a folder with the final name but no manifest
    notices.clear()
    assert not open_store(path, cache=True, notify=notices.append).info.reused
    assert "incomplete" in notices[0]


def test_a_data_folder_that_cannot_be_written_falls_back_to_the_user_cache(tmp_path):
    path = windows_file(tmp_path / "data")
    (tmp_path / "data" / disk.NEXT_TO_DATA).write_text("a file where the cache folder would go")
    notices: list[str] = []
    store = open_store(path, cache=True, notify=notices.append)
    user = tmp_path / "user-cache" / "moola"
    assert Path(store.info.cache or "").parent == user
    assert len(notices) == 1 and str(tmp_path / "data") in notices[0] and str(user) in notices[0]
    assert open_store(path, cache=True).info.reused  # and is found there next time


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores permissions")
def test_a_read_only_data_folder_falls_back_to_the_user_cache(tmp_path):
    path = windows_file(tmp_path / "data")
    (tmp_path / "data").chmod(0o555)
    try:
        notices: list[str] = []
        store = open_store(path, cache=True, notify=notices.append)
        assert Path(store.info.cache or "").parent == tmp_path / "user-cache" / "moola"
        assert notices
    finally:
        (tmp_path / "data").chmod(0o755)


def test_moola_cache_decides_where_stores_go(tmp_path, monkeypatch):
    monkeypatch.setenv(disk.ENV, str(tmp_path / "elsewhere"))
    store = open_store(windows_file(tmp_path / "data"), cache=True)
    assert Path(store.info.cache or "").parent == tmp_path / "elsewhere"
    assert not (tmp_path / "data" / disk.NEXT_TO_DATA).exists()


def test_nowhere_to_write_is_an_error_that_names_the_file_and_the_folder(tmp_path, monkeypatch):
    (tmp_path / "blocker").write_text("not a folder")
    monkeypatch.setenv(disk.ENV, str(tmp_path / "blocker" / "cache"))
    path = windows_file(tmp_path / "data")
    with pytest.raises(StoreError, match=r"windows\.parquet anywhere: .*blocker"):
        open_store(path, cache=True)


def test_in_memory_windows_are_cached_by_their_content(tmp_path, monkeypatch):
    monkeypatch.setenv(disk.ENV, str(tmp_path / "cache"))
    windows = label_series(random_walk_series(500, seed=3), LabelRule(stride=10))
    first = build_store(windows, cache=True)
    assert build_store(windows, cache=True).info.reused
    windows.label[0] = (windows.label[0] + 1) % 3  # a label changes: another store
    changed = build_store(windows, cache=True)
    assert not changed.info.reused and changed.fingerprint != first.fingerprint
    assert first.labels([0]).label.item() != windows.label[0]


def test_the_first_of_two_concurrent_builds_wins(tmp_path):
    root = tmp_path / "cache"
    a, b = disk.Building(root, "x.store"), disk.Building(root, "x.store")
    a.array("v.npy", (3,), np.int64)[:] = 1
    b.array("v.npy", (3,), np.int64)[:] = 2
    assert a.commit({"key": "k"}) == b.commit({"key": "k"}) == root / "x.store"
    assert np.load(root / "x.store" / "v.npy").tolist() == [1, 1, 1]
    assert [p.name for p in root.iterdir()] == ["x.store"]


def test_file_errors_name_the_file(tmp_path):
    with pytest.raises(DataValidationError, match=r"nothing\.parquet does not exist"):
        open_store(tmp_path / "nothing.parquet")
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet at all")
    with pytest.raises(DataValidationError, match=r"broken\.parquet"):
        open_store(broken)
    odd = tmp_path / "bars.xlsx"
    odd.write_bytes(b"")
    with pytest.raises(DataValidationError, match=r"bars\.xlsx"):
        open_store(odd)


def test_series_files_open_as_unlabelled_stores(tmp_path):
    bars = random_walk_series(400, seed=7)
    npy = tmp_path / "bars.npy"
    np.save(npy, bars)
    csv = tmp_path / "bars.csv"
    rows = "\n".join(",".join(repr(float(v)) for v in bar) for bar in bars)
    csv.write_text("open,high,low,close\n" + rows + "\n")
    from_npy, from_csv = open_store(npy, cache=True), open_store(csv)
    assert from_npy.table is None and from_npy.n_bars == 400
    starts = from_npy.dense(7).starts(np.arange(10))
    assert np.array_equal(from_npy.gather(starts).numpy(), from_csv.gather(starts).numpy())


def test_a_store_that_cannot_be_mapped_is_an_error_and_is_kept(tmp_path, monkeypatch):
    """Out of address space (ulimit -v) is not damage: the store stays for the next run."""
    path = windows_file(tmp_path / "data")
    folder = Path(open_store(path, cache=True).info.cache or "")

    def no_memory(*args, **kwargs):
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(store_arrays.mmap, "mmap", no_memory)
    with pytest.raises(StoreError, match=r"cannot map .*\.npy: Cannot allocate memory"):
        open_store(path, cache=True)
    monkeypatch.undo()
    monkeypatch.delenv(disk.ENV, raising=False)
    assert folder.is_dir() and open_store(path, cache=True).info.reused
