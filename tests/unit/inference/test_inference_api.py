"""The Python API: ``moola.load_model``, ``moola.predict`` (natural units), ``moola.train``."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import moola
from moola.data import SyntheticConfig, generate_synthetic
from moola.errors import ConfigError, DataValidationError, FeatureMismatchError
from moola.inference import ModelLoadError, cut_series, load_model
from moola.rundir.checkpoint import CheckpointError
from tests.helpers.configs import tiny_config

WINDOW = 24


def windows(n: int = 6, seed: int = 3) -> np.ndarray:
    return generate_synthetic(SyntheticConfig(n_windows=n, window=WINDOW, seed=seed)).ohlc


# ------------------------------------------------------------------ load_model
def test_a_folder_loads_the_best_weights_and_final_on_request(run_dir: Path) -> None:
    best = torch.load(run_dir / "best.pt", weights_only=True)
    final = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    loaded = load_model(run_dir)
    assert loaded.weights == "best" and loaded.step == best["step"]
    for name, tensor in loaded.model.state_dict().items():
        assert torch.equal(tensor, best["model"][name])
    loaded = load_model(run_dir, weights="final")
    assert loaded.weights == "final" and loaded.step == final["step"] == 20
    for name, tensor in loaded.model.state_dict().items():
        assert torch.equal(tensor, final["model"][name])
    assert not loaded.model.training  # eval mode: no dropout at prediction


def test_a_checkpoint_file_with_best_weights_reads_the_best_pt_beside_it(run_dir: Path) -> None:
    assert load_model(run_dir / "checkpoint.pt").path == run_dir / "best.pt"
    assert load_model(run_dir / "checkpoint.pt", weights="final").weights == "final"
    with pytest.raises(ModelLoadError, match="best weights only"):
        load_model(run_dir / "best.pt", weights="final")


def test_load_model_names_what_is_wrong(run_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="no run or checkpoint"):
        load_model(tmp_path / "missing")
    with pytest.raises(ModelLoadError, match=r"has no best\.pt"):
        load_model(tmp_path)
    with pytest.raises(ConfigError, match="weights must be one of best, final"):
        load_model(run_dir, weights="last")
    (tmp_path / "notes.pt").write_text("hello")
    with pytest.raises(CheckpointError, match="not a moola checkpoint"):
        load_model(tmp_path / "notes.pt")


def test_loading_never_runs_code_from_the_file(tmp_path: Path) -> None:
    class Boom:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (print, ("ran code",))

    path = tmp_path / "evil.pt"
    torch.save({"format_version": 1, "model": Boom()}, path)
    with pytest.raises(CheckpointError, match="refusing to load"):
        load_model(path)


def test_features_other_than_the_checkpoints_are_a_named_error(
    run_dir: Path, tmp_path: Path
) -> None:
    document = torch.load(run_dir / "best.pt", weights_only=True)
    document["feature_names"] = list(reversed(document["feature_names"]))
    torch.save(document, tmp_path / "best.pt")
    with pytest.raises(FeatureMismatchError, match="was trained on features"):
        load_model(tmp_path / "best.pt")


# ------------------------------------------------------------------ predict
def constant_model(run_dir: Path) -> moola.LoadedModel:
    """The trained run with every head's weights zeroed: outputs are its biases, known exactly."""
    loaded = load_model(run_dir)
    heads = loaded.model
    with torch.no_grad():
        for head in (
            heads.type_head,
            heads.pointer_head,
            heads.expansion_binary_head,
            heads.expansion_countdown_head,
        ):
            head[1].weight.zero_()
        heads.type_head[1].bias.copy_(torch.tensor([0.0, math.log(2.0), 0.0]))
        heads.pointer_head[1].bias.copy_(torch.tensor([0.0, math.log(1 / 3)]))  # 0.5, 0.25
        heads.expansion_binary_head[1].bias.fill_(math.log(3.0))  # p = 0.75
        heads.expansion_countdown_head[1].bias.fill_(0.25)  # 0.25 / (1/20) = 5 bars
    return loaded


def test_predictions_are_in_natural_units(run_dir: Path) -> None:
    pred = moola.predict(constant_model(run_dir), windows(4))
    assert len(pred) == 4 and pred.window == WINDOW
    np.testing.assert_allclose(pred.type_prob, np.tile([0.25, 0.5, 0.25], (4, 1)), atol=1e-6)
    assert pred.type_name == ["retracement"] * 4 and pred.label_names == moola.LABEL_NAMES
    # centre 0.5 x 24 = bar 12, length 0.25 x 24 = 6 bars: bars 9..15
    np.testing.assert_allclose(pred.pointer_center, 12.0, atol=1e-5)
    np.testing.assert_allclose(pred.pointer_length, 6.0, atol=1e-5)
    assert pred.span_start.tolist() == [9] * 4 and pred.span_end.tolist() == [15] * 4
    np.testing.assert_allclose(pred.span_prob, 0.75, atol=1e-6)
    assert pred.span.shape == (4, WINDOW) and pred.span.all()
    np.testing.assert_allclose(pred.countdown, 5.0, atol=1e-5)
    assert pred.start_bar is None


def test_a_series_is_cut_so_that_the_newest_window_ends_on_the_last_bar(run_dir: Path) -> None:
    series = windows(5).reshape(-1, 4)[:100]  # 100 bars
    cut = cut_series(series, window=WINDOW, stride=15)
    assert cut.start_bar is not None
    assert cut.start_bar.tolist() == [1, 16, 31, 46, 61, 76]  # 76 + 24 = 100
    np.testing.assert_array_equal(cut.ohlc[-1], series[76:])
    pred = moola.predict(run_dir, series, stride=15)
    assert len(pred) == 6 and pred.start_bar is not None and pred.start_bar[-1] == 76
    again = moola.predict(run_dir, series, stride=15)
    np.testing.assert_array_equal(pred.countdown, again.countdown)  # deterministic (eval mode)


def test_bad_prediction_input_is_a_named_error(run_dir: Path) -> None:
    model = load_model(run_dir)
    with pytest.raises(DataValidationError, match="30-bar windows but the model was trained on 24"):
        moola.predict(model, np.tile(windows(1)[:, :1], (1, 30, 1)))
    with pytest.raises(DataValidationError, match="fewer than one 24-bar window"):
        moola.predict(model, windows(1)[0, :10])
    with pytest.raises(DataValidationError, match="no windows"):
        moola.predict(model, np.zeros((0, WINDOW, 4)))
    with pytest.raises(ConfigError, match="stride"):
        moola.predict(model, windows(2).reshape(-1, 4), stride=0)


# ------------------------------------------------------------------ train and the package
def test_train_returns_the_verdict_on_the_result() -> None:
    result = moola.train(tiny_config(steps=5))
    assert isinstance(result, moola.TrainResult)
    assert set(result.verdict) == {"type", "pointers", "binary", "countdown"}
    summary = result.task_summary()
    for name, verdict in result.verdict.items():
        assert (verdict.learned, verdict.why) == (summary[name]["learned"], summary[name]["why"])
    assert result.learned == all(v.learned for v in result.verdict.values())


def test_import_moola_is_cheap_and_every_public_name_resolves() -> None:
    code = "import sys, moola; print('torch' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
    for name in moola.__all__:
        assert getattr(moola, name) is not None
    assert callable(moola.train) and moola.train.TrainConfig is moola.TrainConfig
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = moola.nope  # type: ignore[attr-defined]


def test_prediction_in_chunks_gives_the_same_windows(run_dir: Path) -> None:
    series = windows(12).reshape(-1, 4)  # 288 bars: 265 windows at stride 1
    whole = moola.predict(run_dir, series, stride=1, batch_size=1024)
    chunked = moola.predict(run_dir, series, stride=1, batch_size=7)
    assert len(whole) == len(chunked) == 288 - WINDOW + 1
    np.testing.assert_allclose(chunked.countdown, whole.countdown, atol=1e-5)
    np.testing.assert_allclose(chunked.type_prob, whole.type_prob, atol=1e-6)
    with pytest.raises(ConfigError, match="batch_size"):
        moola.predict(run_dir, series, batch_size=0)


def test_a_best_pt_with_bad_weights_is_a_named_error(run_dir: Path, tmp_path: Path) -> None:
    document = torch.load(run_dir / "best.pt", weights_only=True)
    document["model"] = {name: 1.0 for name in document["model"]}
    torch.save(document, tmp_path / "best.pt")
    with pytest.raises(ModelLoadError, match="not a dict of weight tensors"):
        load_model(tmp_path / "best.pt")
    document = torch.load(run_dir / "best.pt", weights_only=True)
    document["model_config"] = {**document["model_config"], "hidden_size": 9}
    torch.save(document, tmp_path / "best.pt")
    with pytest.raises(CheckpointError, match="shapes differ"):
        load_model(tmp_path / "best.pt")
