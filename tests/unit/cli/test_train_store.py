"""``moola train`` and ``moola label`` on the series store, end to end: a bar file trains at any
stride, its store is cached, reused while nothing changed and rebuilt when anything did,
never read half-written, moved aside from a folder it cannot write, and every bad input is
a one-line error that names the file; a run started before the store resumes on the inputs
it trained on, or is refused with the reason."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import moola.data.corpus as corpus_module
from moola.cli import main
from moola.data import WindowDataset, load_parquet
from moola.data.files import save_parquet_batches
from moola.data.fingerprint import data_fingerprint
from moola.data.signal_free import random_walk_series
from moola.data.store import cache as disk

TINY = [
    "--window",
    "24",
    "--steps",
    "2",
    "--eval-every",
    "0",
    "--threads",
    "1",
    "--no-progress",
    "--set",
    'model={"hidden_size": 8, "projection_dim": 8}',
]


@pytest.fixture(autouse=True)
def _cache_every_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every data file's store goes to the cache (as files of 32 MB and more do)."""
    monkeypatch.setattr(corpus_module, "CACHE_MIN_BYTES", 0)
    monkeypatch.delenv(disk.ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))


def bar_file(folder: Path, bars: np.ndarray | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bars.csv"
    bars = random_walk_series(600, seed=2) if bars is None else bars
    lines = ["open,high,low,close", *(",".join(f"{v:.10g}" for v in row) for row in bars)]
    path.write_text("\n".join(lines) + "\n")
    return path


def stores(folder: Path) -> list[Path]:
    return sorted((folder / disk.NEXT_TO_DATA).glob(f"*{disk.SUFFIX}"))


def train(data: Path, out: Path, *extra: str) -> int:
    return main(["train", "--data", str(data), "--out", str(out), *TINY, *extra])


def fingerprint(run: Path) -> str:
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    return str(state["fingerprint"])


def test_a_bar_file_trains_at_any_stride_on_one_cached_store_per_version(tmp_path: Path) -> None:
    data = bar_file(tmp_path / "data")
    assert train(data, tmp_path / "a", "--stride", "1") == 0
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    split = metrics["split"]
    assert split["n_train"] + split["n_val"] + split["n_purged"] == 600 - 24 + 1
    assert metrics["config"]["stride"] == 1 and metrics["config"]["inputs"] == "auto"
    (first,) = stores(data.parent)
    built = (first / "manifest.json").stat().st_mtime_ns
    assert train(data, tmp_path / "b", "--stride", "1") == 0
    assert stores(data.parent) == [first]  # reused, not rebuilt
    assert (first / "manifest.json").stat().st_mtime_ns == built
    assert fingerprint(tmp_path / "a") == fingerprint(tmp_path / "b")
    # another stride labels other windows: another store beside it
    assert train(data, tmp_path / "c", "--stride", "5") == 0
    assert len(stores(data.parent)) == 2
    # other feature settings: another store beside them
    assert train(data, tmp_path / "d", "--stride", "5", "--features", "candle,position") == 0
    assert len(stores(data.parent)) == 3
    # another version of the file: rebuilt, and the stores of the old version removed
    bars = random_walk_series(600, seed=2)
    bars[300] *= 1.001
    bar_file(data.parent, bars)
    assert train(data, tmp_path / "e", "--stride", "1") == 0
    (rebuilt,) = stores(data.parent)
    assert rebuilt != first and fingerprint(tmp_path / "e") != fingerprint(tmp_path / "a")


def test_an_interrupted_or_damaged_store_is_rebuilt_with_a_notice_that_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = bar_file(tmp_path / "data")
    assert train(data, tmp_path / "a") == 0
    (store,) = stores(data.parent)
    (store / "manifest.json").unlink()  # a build that never wrote its manifest
    capsys.readouterr()
    assert train(data, tmp_path / "b") == 0
    assert f"the store {store} is incomplete; building it again" in capsys.readouterr().err
    block = store / "block.npy"
    block.write_bytes(block.read_bytes()[:-100])  # a file cut short
    assert train(data, tmp_path / "c") == 0
    err = capsys.readouterr().err
    assert f"the store {store} is damaged" in err and str(block) in err
    assert fingerprint(tmp_path / "a") == fingerprint(tmp_path / "c")


def test_a_data_folder_that_cannot_be_written_sends_the_store_to_the_user_cache(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = bar_file(tmp_path / "data")
    (data.parent / disk.NEXT_TO_DATA).write_text("not a folder")  # nothing can be made there
    assert train(data, tmp_path / "a") == 0
    err = capsys.readouterr().err
    assert f"cannot write the store of {data}" in err and "using" in err
    assert len(list((tmp_path / "user-cache" / "moola").glob(f"*{disk.SUFFIX}"))) == 1


def test_bad_data_is_one_line_that_names_the_file_and_the_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("pyarrow")
    data = bar_file(tmp_path / "data")
    text = data.read_text().splitlines()
    text[101] = "1.0,oops,0.5,1.0"
    data.write_text("\n".join(text) + "\n")
    assert train(data, tmp_path / "a") == 2
    err = capsys.readouterr().err
    assert f"{data}: row 100" in err and "Traceback" not in err
    good = bar_file(tmp_path / "good")
    windows = tmp_path / "windows.parquet"
    assert main(["label", str(good), "--out", str(windows), "--window", "24"]) == 0
    labelled = load_parquet(windows, window=24)
    ohlc = labelled.ohlc.copy()
    ohlc[7, 3, 1] = np.nan  # row 7, bar 3: a NaN high
    broken = type(labelled)(
        ohlc, labelled.label, labelled.expansion_start, labelled.expansion_end, labelled.start_bar
    )
    save_parquet_batches(windows, [broken])  # written unchecked, as a foreign tool might
    capsys.readouterr()
    assert train(windows, tmp_path / "b") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith(
        f"{windows}: row 7, bar 3: has a NaN or infinite price (open, high, low, close = "
        f"{', '.join(f'{v:.6g}' for v in ohlc[7, 3])})"
    ), err
    assert train(good, tmp_path / "c", "--stride", "0") == 2
    assert "stride must be >= 1 bar, got 0" in capsys.readouterr().err
    assert main(["label", str(good), "--out", str(tmp_path / "x.parquet"), "--stride", "0"]) == 2
    assert "stride must be >= 1, got 0" in capsys.readouterr().err


def test_a_run_from_before_the_store_resumes_on_its_inputs_or_is_refused_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A checkpoint written before the store records no data format, no ``inputs`` and no
    ``stride``, and a fingerprint of every window's per-window inputs. Resumed, it is read as
    it was trained (window inputs, stride 15): on the same data it continues; on other data
    the refusal says that it compared the per-window inputs."""
    pytest.importorskip("pyarrow")
    data = bar_file(tmp_path / "data", random_walk_series(900, seed=5))
    windows_file = tmp_path / "windows.parquet"
    assert main(["label", str(data), "--out", str(windows_file), "--window", "24"]) == 0
    run = tmp_path / "old"
    assert train(windows_file, run, "--inputs", "window") == 0
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    del state["data_format"]
    for name in ("inputs", "stride"):
        del state["config"][name]
    state["fingerprint"] = data_fingerprint(WindowDataset(load_parquet(windows_file, window=24)))
    torch.save(state, run / "checkpoint.pt")
    (run / "best.pt").unlink()
    assert main(["train", "--resume", str(run), "--steps", "3", "--no-progress"]) == 0
    assert torch.load(run / "checkpoint.pt", weights_only=True)["step"] == 3
    state["config"]["data"] = str(data)  # now a bar file: the windows are cut and labelled anew
    bar_file(data.parent, random_walk_series(900, seed=6))
    torch.save(state, run / "checkpoint.pt")
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--steps", "4", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "the data differs from the data it was trained on (a checkpoint from before" in err


def test_predict_knows_the_bars_a_run_on_the_store_saw(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run trained on a bar file (its store) records the bars it saw in ``judging.pt``:
    ``moola predict`` on the same bars, labelled at another stride or raw and continued by
    bars the run never saw, marks exactly the windows that share them."""
    pq = pytest.importorskip("pyarrow.parquet")
    seen = random_walk_series(600, seed=2)
    data = bar_file(tmp_path / "data", seen)
    assert train(data, tmp_path / "run", "--stride", "5") == 0
    assert (tmp_path / "run" / "judging.pt").is_file()
    # the same bars labelled every 7 bars: every window in-sample, so no verdict
    labelled = tmp_path / "labelled.parquet"
    assert (
        main(["label", str(data), "--window", "24", "--stride", "7", "--out", str(labelled)]) == 0
    )
    out = tmp_path / "p.parquet"
    assert main(["predict", str(tmp_path / "run"), "--data", str(labelled), "--out", str(out)]) == 0
    assert all(pq.read_table(out).column("in_sample").to_pylist())
    assert "share bars with the data the run trained or validated on" in capsys.readouterr().out
    # the raw series continued by 200 fresh bars, cut every 9: in-sample up to the seen bars
    fresh = random_walk_series(200, seed=77) * (seen[-1, 3] / 100.0)
    longer = bar_file(tmp_path / "longer", np.concatenate([seen, fresh]))
    assert (
        main(
            [
                "predict",
                str(tmp_path / "run"),
                "--data",
                str(longer),
                "--out",
                str(out),
                "--stride",
                "9",
            ]
        )
        == 0
    )
    table = pq.read_table(out).to_pydict()
    starts = np.array(table["start_bar"])
    assert table["in_sample"] == (starts <= 600 - 3).tolist()  # >= 3 seen bars (MIN_SHARED)
    assert 0 < sum(table["in_sample"]) < len(starts)
