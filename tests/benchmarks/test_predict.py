"""Predict throughput (pytest-benchmark): torch eager against onnxruntime, one batch of 1,024.

What is timed, for both engines on the same model and the same 1,024 windows: the model
and the conversion to natural units, from prebuilt features (batch 1,024, K = 105, the
default ``all`` features, 16) to the outputs of ``Predictions``. torch: ``moola.predict``'s
path after the features (eval-mode forward in one chunk of 1,024, then
``predictions.from_outputs``). onnxruntime: ``session.run`` of the exported graph (the
conversion is in the graph). Building the features is the same numpy code for both and is
timed on its own (``test_predict_features``). Threads: ``bench_threads`` for both (torch
intra-op threads; onnxruntime ``intra_op_num_threads``). The model is the default-size
JadeCompact with seeded initial weights (speed does not depend on the values).

Windows: the first 1,128 hourly EURUSD bars cut with stride 1 (backtesting's file, located
without importing backtesting), or a seeded random walk without it (named in extra_info).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from moola.data import build_features, feature_names
from moola.data.files import read_series
from moola.data.sources import backtesting_series_path
from moola.inference.load import LoadedModel
from moola.inference.predictions import from_outputs
from moola.models.forward import forward_eval as forward
from moola.seeding import seed_everything
from moola.train import TrainConfig
from moola.train.objectives import SupervisedObjective

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

BATCH, WINDOW = 1_024, 105


def load_windows() -> tuple[str, np.ndarray]:
    path = backtesting_series_path("EURUSD")
    if path is not None:
        source, bars = "eurusd", read_series(path)[: BATCH + WINDOW - 1]
    else:
        rng = np.random.default_rng(0)
        close = np.exp(np.cumsum(1e-3 * rng.standard_normal(BATCH + WINDOW - 1)))
        open_ = np.concatenate([[1.0], close[:-1]])
        spread = 5e-4 * rng.random((2, len(close)))
        high, low = np.maximum(open_, close) + spread[0], np.minimum(open_, close) - spread[1]
        source, bars = "random-walk", np.stack([open_, high, low, close], axis=-1)
    index = np.arange(BATCH)[:, None] + np.arange(WINDOW)[None, :]
    return source, bars[index]


SOURCE, OHLC = load_windows()


@pytest.fixture(scope="module")
def bench_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[LoadedModel, Path]:
    from moola.inference.export import export_onnx

    seed_everything(0)
    names = feature_names("all")
    # the default model, as training builds it (moola.train.setup)
    config = TrainConfig(out_dir=None)
    objective = SupervisedObjective.from_config(config)
    model = objective.build_model(config, len(names), torch.device("cpu")).eval()
    loaded = LoadedModel(
        model=model,
        feature_set="all",
        feature_names=names,
        window=WINDOW,
        countdown_scale=1 / 20,
        weights="final",
        step=0,
        path=Path("untrained"),
    )
    path = export_onnx(loaded, tmp_path_factory.mktemp("onnx") / "bench.onnx")
    return loaded, path


@pytest.fixture(scope="module")
def bench_features() -> torch.Tensor:
    return torch.from_numpy(build_features(OHLC, feature_set="all"))


def torch_predict(loaded: LoadedModel, x: torch.Tensor) -> object:
    outputs = forward(loaded.model, x, batch_size=BATCH)
    return from_outputs(outputs, window=WINDOW, countdown_scale=loaded.countdown_scale)


@pytest.mark.benchmark(group="predict")
def test_predict_torch_eager(benchmark, bench_malloc, bench_threads, bench_model, bench_features):
    loaded, _ = bench_model
    benchmark.extra_info.update(
        source=SOURCE, batch=BATCH, threads=bench_threads, malloc=bench_malloc
    )
    pred = benchmark(torch_predict, loaded, bench_features)
    assert len(pred) == BATCH  # type: ignore[arg-type]


@pytest.mark.benchmark(group="predict")
def test_predict_onnxruntime(benchmark, bench_malloc, bench_threads, bench_model, bench_features):
    from moola.inference.export import OnnxModel

    loaded, path = bench_model
    engine = OnnxModel(path, threads=bench_threads)
    features = bench_features.numpy()
    benchmark.extra_info.update(
        source=SOURCE, batch=BATCH, threads=bench_threads, malloc=bench_malloc
    )
    out = benchmark(engine.run_features, features)
    assert out["countdown"].shape == (BATCH, WINDOW)
    expected = torch_predict(loaded, bench_features)
    np.testing.assert_allclose(out["countdown"], expected.countdown, atol=2e-4)  # type: ignore[attr-defined]


@pytest.mark.benchmark(group="predict")
def test_predict_features(benchmark, bench_malloc):
    benchmark.extra_info.update(source=SOURCE, batch=BATCH, malloc=bench_malloc)
    x = benchmark(build_features, OHLC, feature_set="all")
    assert x.shape == (BATCH, WINDOW, 16)
