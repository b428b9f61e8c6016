"""JadeCompact: outputs, shapes, structure, parameter groups and input validation."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from moola.data import FEATURE_NAMES, feature_names
from moola.errors import ConfigError, InputValidationError
from moola.models.jade_core import LOG_SIGMA_INIT, OUTPUT_KEYS, JadeCompact, JadeConfig
from moola.seeding import seed_everything
from moola.tasks import make_tasks
from tests.helpers.models import tiny_model

SIGMA_KEYS = {"sigma_type", "sigma_ptr", "sigma_binary", "sigma_countdown"}
PER_BAR_KEYS = ("expansion_binary_logits", "expansion_binary", "expansion_countdown")
ALL_KEYS = {"logits", "pointers", *PER_BAR_KEYS, *SIGMA_KEYS}


def small_model(**overrides: object) -> JadeCompact:
    return tiny_model(**overrides)  # type: ignore[arg-type]


def expected_parameter_count(c: JadeConfig) -> int:
    """Parameter count worked out from the architecture, layer by layer."""
    h = c.hidden_size
    lstm = 0
    for layer in range(c.num_layers):
        inp = c.n_features if layer == 0 else 2 * h
        # per direction: W_ih (4h x inp), W_hh (4h x h), b_ih (4h), b_hh (4h)
        lstm += 2 * (4 * h * inp + 4 * h * h + 8 * h)
    width = 2 * h
    if c.projection_dim is None:
        proj, pooled = 0, width
    else:
        proj, pooled = width * c.projection_dim + c.projection_dim, c.projection_dim
    type_head = pooled * c.n_classes + c.n_classes
    pointer_head = pooled * 2 + 2
    per_bar_heads = 2 * (width + 1)
    log_sigmas = 4
    return lstm + proj + type_head + pointer_head + per_bar_heads + log_sigmas


# ---------------------------------------------------------------- outputs and shapes

CONFIGS = list(itertools.product((1, 2), (None, 32), (3, 5), (7, 13)))


@pytest.mark.parametrize(("num_layers", "projection_dim", "n_classes", "n_features"), CONFIGS)
def test_output_keys_and_shapes(num_layers, projection_dim, n_classes, n_features):
    seed_everything(0)
    model = small_model(
        num_layers=num_layers,
        projection_dim=projection_dim,
        n_classes=n_classes,
        n_features=n_features,
    )
    model.eval()
    for seq_len, batch in ((2, 3), (16, 2), (105, 2), (300, 1)):
        x = torch.randn(batch, seq_len, n_features)
        with torch.no_grad():
            out = model(x)
        assert set(out) == ALL_KEYS
        assert set(OUTPUT_KEYS.values()) <= set(out)
        assert out["logits"].shape == (batch, n_classes)
        assert out["pointers"].shape == (batch, 2)
        for key in PER_BAR_KEYS:
            assert out[key].shape == (batch, seq_len), key
        for key in SIGMA_KEYS:
            assert out[key].shape == (), key
        for value in out.values():
            assert bool(torch.isfinite(value).all())


def test_pointers_in_unit_interval_and_binary_is_sigmoid_of_logits():
    seed_everything(1)
    model = small_model().double().eval()
    # Large inputs push the sigmoid towards saturation; it must stay in [0, 1].
    x = (
        torch.randn(6, 20, 7, dtype=torch.float64)
        * torch.tensor([1.0, 50.0, 1e3]).repeat(2)[:, None, None]
    )
    with torch.no_grad():
        out = model(x)
    assert bool((out["pointers"] >= 0).all()) and bool((out["pointers"] <= 1).all())
    logits = out["expansion_binary_logits"]
    manual = 1.0 / (1.0 + torch.exp(-logits))
    torch.testing.assert_close(out["expansion_binary"], manual, rtol=1e-12, atol=1e-15)


def test_sigma_outputs_are_exp_of_log_sigma_initial_values():
    model = small_model()
    with torch.no_grad():
        out = model(torch.randn(2, 5, 7))
    # Facts file: ptr -0.30, type/binary/countdown 0.0.
    assert out["sigma_ptr"].item() == pytest.approx(math.exp(-0.30), rel=1e-6)
    for key in ("sigma_type", "sigma_binary", "sigma_countdown"):
        assert out[key].item() == pytest.approx(1.0, rel=1e-7)


def test_log_sigma_initial_values_match_facts():
    model = small_model()
    facts = {"type": 0.0, "pointers": -0.30, "binary": 0.0, "countdown": 0.0}
    assert facts == LOG_SIGMA_INIT
    for task, value in facts.items():
        assert model.log_sigma(task).item() == pytest.approx(value, abs=1e-7)
        assert model.log_sigma(task).requires_grad
    # The original attribute names are kept.
    assert model.log_sigma_ptr.item() == pytest.approx(-0.30, abs=1e-7)
    with pytest.raises(InputValidationError, match="no log-sigma for task 'nope'"):
        model.log_sigma("nope")


def test_output_keys_map_every_task_to_a_forward_key():
    assert OUTPUT_KEYS == {
        "type": "logits",
        "pointers": "pointers",
        "binary": "expansion_binary_logits",
        "countdown": "expansion_countdown",
    }


# ---------------------------------------------------------------- structure


def test_default_config_matches_the_original_model():
    c = JadeConfig()
    assert (c.hidden_size, c.num_layers, c.projection_dim, c.n_classes) == (96, 1, 64, 3)
    assert (c.input_dropout, c.recurrent_dropout, c.dense_dropout) == (0.3, 0.7, 0.6)
    model = JadeCompact()
    assert model.lstm.bidirectional
    assert model.lstm.hidden_size == 96
    assert model.input_dropout.p == pytest.approx(0.3)
    for head in (
        model.type_head,
        model.pointer_head,
        model.expansion_binary_head,
        model.expansion_countdown_head,
    ):
        assert isinstance(head[0], torch.nn.Dropout)
        assert head[0].p == pytest.approx(0.6)
    # Per-timestep heads read the raw 192-wide LSTM output.
    assert model.expansion_binary_head[1].in_features == 192
    assert model.expansion_countdown_head[1].in_features == 192
    assert model.type_head[1].in_features == 64


def test_default_parameter_count_in_documented_range():
    model = JadeCompact()
    n = model.num_parameters()
    assert n == sum(p.numel() for p in model.parameters())
    # The original's "about 52K to 98K", to the nearest thousand.
    assert 51_500 <= n < 98_500
    assert n == expected_parameter_count(model.config)
    # By hand: the BiLSTM has 2 x (4*96*13 + 4*96*96 + 8*96) = 85,248 (13 inputs); the
    # projection 192*64 + 64 = 12,352; type 64*3 + 3 = 195; pointers 64*2 + 2 = 130; the
    # per-bar heads 2 * (192 + 1) = 386; 4 log-sigmas. With 7 inputs the LSTM had
    # 2 * 4*96 * 6 = 4,608 fewer: 93,707, the count before the swing group.
    assert n == 85_248 + 12_352 + 195 + 130 + 386 + 4 == 98_315
    assert model.config.n_features == len(feature_names("original")) == 13


def test_the_default_training_model_has_the_default_feature_sets_width() -> None:
    """moola train builds its model for the default set ``all`` (16 inputs): 3 more inputs
    than the original's 13 add 3 x 768 LSTM weights to the 98,315 above."""
    model = JadeCompact(JadeConfig(n_features=len(FEATURE_NAMES)))
    assert len(FEATURE_NAMES) == 16
    assert model.num_parameters() == 98_315 + 3 * 768 == 100_619


@pytest.mark.parametrize(("num_layers", "projection_dim", "n_classes", "n_features"), CONFIGS)
def test_parameter_count_matches_architecture(num_layers, projection_dim, n_classes, n_features):
    cfg = JadeConfig(
        n_features=n_features,
        hidden_size=12,
        num_layers=num_layers,
        projection_dim=projection_dim,
        n_classes=n_classes,
    )
    assert JadeCompact(cfg).num_parameters() == expected_parameter_count(cfg)


@pytest.mark.parametrize(("num_layers", "expected"), [(1, 0.0), (2, 0.7), (3, 0.7)])
def test_recurrent_dropout_only_between_stacked_layers(num_layers, expected):
    model = JadeCompact(JadeConfig(hidden_size=8, num_layers=num_layers, recurrent_dropout=0.7))
    assert model.lstm.dropout == pytest.approx(expected)
    assert model.lstm.num_layers == num_layers


def test_overrides_replace_config_fields():
    model = JadeCompact(JadeConfig(hidden_size=8), n_classes=5)
    assert model.config.n_classes == 5 and model.config.hidden_size == 8
    assert model.type_head[1].out_features == 5


# ---------------------------------------------------------------- parameter groups


@pytest.mark.parametrize("num_layers", [1, 2])
def test_trunk_parameters_are_exactly_the_lstm(num_layers):
    model = small_model(num_layers=num_layers)
    trunk = model.trunk_parameters()
    lstm_ids = {id(p) for p in model.lstm.parameters()}
    by_name = {id(p) for n, p in model.named_parameters() if n.startswith("lstm.")}
    assert len(trunk) == len({id(p) for p in trunk}) == len(lstm_ids)
    assert {id(p) for p in trunk} == lstm_ids == by_name
    # 4 tensors per direction per layer
    assert len(trunk) == 8 * num_layers


@pytest.mark.parametrize("projection_dim", [None, 8])
def test_head_trunk_and_log_sigma_partition_the_parameters(projection_dim):
    model = small_model(projection_dim=projection_dim)
    trunk = {id(p) for p in model.trunk_parameters()}
    head = {id(p) for p in model.head_parameters()}
    sigma = {id(p) for p in model.log_sigma_parameters()}
    assert len(head) == len(model.head_parameters())
    assert not trunk & head and not trunk & sigma and not head & sigma
    assert trunk | head | sigma == {id(p) for p in model.parameters()}
    assert len(sigma) == 4


@pytest.mark.parametrize("num_layers", [1, 2])
def test_every_task_has_nonzero_gradient_on_every_trunk_parameter(num_layers):
    seed_everything(3)
    model = small_model(num_layers=num_layers).double()
    tasks = make_tasks()
    x = torch.randn(4, 14, 7, dtype=torch.float64)
    label = torch.tensor([0, 1, 2, 1])
    start = torch.tensor([2, 5, 0, 9])
    end = torch.tensor([6, 5, 13, 12])
    targets = tasks.build_targets(label, start, end, window=14)
    targets = {k: v.double() if v.is_floating_point() else v for k, v in targets.items()}
    out = model(x)
    trunk = model.trunk_parameters()
    for task in tasks:
        loss = task.loss(out[task.output_key], targets[task.name])
        grads = torch.autograd.grad(loss, trunk, retain_graph=True, allow_unused=True)
        for (name, _), g in zip(model.lstm.named_parameters(), grads):
            assert g is not None, (task.name, name)
            assert float(g.abs().max()) > 0.0, (task.name, name)
            assert bool(torch.isfinite(g).all())


# ---------------------------------------------------------------- input validation


@pytest.fixture(scope="module")
def model() -> JadeCompact:
    return small_model().eval()


@pytest.mark.parametrize(
    ("x", "pattern"),
    [
        (torch.zeros(16, 7), r"rank 2 shape \(16, 7\)"),
        (torch.zeros(1, 2, 16, 7), r"rank 4"),
        (torch.zeros(2, 16, 5), r"expected 7 features per bar, got 5"),
        (torch.zeros(2, 16, 13), r"expected 7 features per bar, got 13"),
        (torch.zeros(2, 1, 7), r"sequence length must be >= 2 bars, got 1"),
        (torch.zeros(2, 0, 7), r"sequence length must be >= 2 bars, got 0"),
        (torch.zeros(0, 16, 7), r"empty batch"),
        (torch.zeros(2, 16, 7, dtype=torch.int64), r"floating-point.*int64"),
        (torch.zeros(2, 16, 7, dtype=torch.bool), r"floating-point.*bool"),
    ],
)
def test_bad_inputs_rejected(model, x, pattern):
    with pytest.raises(InputValidationError, match=pattern):
        model(x)
    with pytest.raises(InputValidationError, match=pattern):
        model.encode(x)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_input_names_batch_and_bar(model, bad):
    x = torch.randn(3, 10, 7)
    x[2, 8, 0] = bad  # later in row-major order: not the one reported
    x[1, 4, 6] = bad
    with pytest.raises(InputValidationError, match=r"NaN or inf.*batch 1, bar 4, feature 6"):
        model(x)


def test_finite_check_can_be_turned_off():
    m = small_model().eval()
    m.check_finite = False
    x = torch.randn(2, 6, 7)
    x[0, 0, 0] = float("nan")
    out = m(x)  # no validation error; NaN propagates
    assert not bool(torch.isfinite(out["logits"]).all())


@pytest.mark.parametrize(
    "x", [np.zeros((2, 16, 7), dtype=np.float32), [[[0.0] * 7] * 16] * 2, None, 3.0]
)
def test_non_tensor_input_rejected(model, x):
    with pytest.raises(InputValidationError, match=r"expected a torch\.Tensor, got"):
        model(x)


# ---------------------------------------------------------------- config validation


@pytest.mark.parametrize(
    ("field", "value", "pattern"),
    [
        ("n_features", 0, r"n_features must be >= 1, got 0"),
        ("hidden_size", 0, r"hidden_size must be >= 1, got 0"),
        ("hidden_size", -4, r"hidden_size must be >= 1"),
        ("num_layers", 0, r"num_layers must be >= 1"),
        ("n_classes", 1, r"n_classes must be >= 2, got 1"),
        ("n_classes", 0, r"n_classes must be >= 1"),
        ("projection_dim", 0, r"projection_dim must be >= 1 or None, got 0"),
        ("input_dropout", 1.0, r"input_dropout must be in \[0, 1\), got 1.0"),
        ("input_dropout", -0.1, r"input_dropout must be in \[0, 1\)"),
        ("recurrent_dropout", 1.5, r"recurrent_dropout must be in \[0, 1\)"),
        ("dense_dropout", float("nan"), r"dense_dropout must be in \[0, 1\)"),
        ("dense_dropout", 1.0, r"dense_dropout must be in \[0, 1\)"),
    ],
)
def test_config_rejects_bad_values(field, value, pattern):
    with pytest.raises(ConfigError, match=pattern):
        JadeConfig(**{field: value})
    with pytest.raises(ConfigError, match=pattern):
        JadeCompact(JadeConfig(hidden_size=8), **{field: value})


def test_config_accepts_edge_values():
    cfg = JadeConfig(
        n_features=1,
        hidden_size=1,
        num_layers=1,
        input_dropout=0.0,
        recurrent_dropout=0.0,
        dense_dropout=0.999,
        projection_dim=None,
        n_classes=2,
    )
    model = JadeCompact(cfg).eval()
    assert model(torch.randn(1, 2, 1))["logits"].shape == (1, 2)
    assert cfg.to_dict()["projection_dim"] is None
