"""``moola predict --plot``: a PNG of the newest windows (the picture itself was looked at)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import moola
from moola.cli import main
from moola.data import SyntheticConfig, generate_synthetic, save_parquet
from moola.errors import ConfigError
from moola.inference import load_model
from moola.inference.core import prepare

pytest.importorskip("matplotlib")
pytest.importorskip("pyarrow")
PNG = b"\x89PNG\r\n\x1a\n"


def test_predict_plot_draws_the_newest_labelled_windows(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import matplotlib.image

    windows = generate_synthetic(SyntheticConfig(n_windows=12, window=24, seed=2))
    save_parquet(windows, tmp_path / "w.parquet")
    args = ["predict", str(run_dir), "--data", str(tmp_path / "w.parquet")]
    assert (
        main([*args, "--out", str(tmp_path / "p.parquet"), "--plot", str(tmp_path / "p.png")]) == 0
    )
    assert (tmp_path / "p.png").read_bytes()[:8] == PNG
    four = matplotlib.image.imread(tmp_path / "p.png")
    assert (
        main(
            [
                *args,
                "--out",
                str(tmp_path / "q.parquet"),
                "--plot",
                str(tmp_path / "one.png"),
                "--plot-windows",
                "1",
            ]
        )
        == 0
    )
    one = matplotlib.image.imread(tmp_path / "one.png")
    # 4 windows: 2 columns x 2 rows of 8 x 4.6 inch cells; 1 window: one cell (100 dpi); the
    # title takes 1.4 inches, 0.3 more for the verdicts' line of labelled windows
    assert four.shape[1] == 1600 and one.shape[1] == 800
    assert four.shape[0] == round(100 * (2 * 4.6 + 1.7)) and one.shape[0] == round(100 * 6.3)
    assert "wrote" in capsys.readouterr().err


def test_plot_a_raw_series_without_labels(run_dir: Path, tmp_path: Path) -> None:
    from moola.inference.plot import plot_windows

    loaded = load_model(run_dir)
    series = generate_synthetic(SyntheticConfig(n_windows=4, window=24, seed=4)).ohlc.reshape(-1, 4)
    data = prepare(loaded, series, stride=10)
    pred = moola.predict(loaded, data)
    path = plot_windows(pred, data, tmp_path / "s.png", n=3)
    assert path.read_bytes()[:8] == PNG
    assert np.all(pred.start_bar == data.start_bar)


def test_plot_without_matplotlib_says_what_to_install(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moola.inference.plot import plot_windows

    loaded = load_model(run_dir)
    data = prepare(loaded, generate_synthetic(SyntheticConfig(n_windows=2, window=24)).ohlc)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ConfigError, match=r"pip install 'moola\[plot\]'"):
        plot_windows(moola.predict(loaded, data), data, tmp_path / "x.png")


def test_a_bad_plot_path_is_one_line_before_any_work(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["predict", str(run_dir), "--data", "synthetic", "--out", str(tmp_path / "p.parquet")]
    assert main([*args, "--plot", str(tmp_path / "p.jpg")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--plot" in err and ".png" in err
    assert not (tmp_path / "p.parquet").exists()
