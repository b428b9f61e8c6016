"""The pretraining model: JadeCompact under its own names plus a reconstruction head, so that
``moola train --init`` loads its trunk and heads into a plain JadeCompact."""

from __future__ import annotations

import pytest
import torch

from moola.errors import ConfigError
from moola.models import JadeCompact, JadeConfig
from moola.models.pretrain import RECONSTRUCTION, PretrainModel

CONFIG = JadeConfig(n_features=5, hidden_size=8, projection_dim=6)
FOUR = ("type", "pointers", "binary", "countdown")


def test_jadecompacts_parameters_keep_their_names_shapes_and_initial_values() -> None:
    torch.manual_seed(0)
    plain = JadeCompact(CONFIG).state_dict()
    torch.manual_seed(0)
    model = PretrainModel(CONFIG, (*FOUR, RECONSTRUCTION)).state_dict()
    for name, tensor in plain.items():
        assert torch.equal(model[name], tensor), name  # drawn first, in the same order
    extra = set(model) - set(plain)
    assert extra == {
        "reconstruction_head.weight",
        "reconstruction_head.bias",
        "log_sigma_reconstruction",
    }
    assert model["reconstruction_head.weight"].shape == (5, 16)  # per bar: 2*hidden -> features


def test_only_the_trained_heads_decode_get_gradients_and_are_exported() -> None:
    model = PretrainModel(CONFIG, (RECONSTRUCTION,))
    x = torch.randn(3, 7, 5)
    out = model(x)
    assert set(out) == {RECONSTRUCTION} and out[RECONSTRUCTION].shape == (3, 7, 5)
    heads = {id(p) for p in model.head_parameters()}
    assert heads == {id(p) for p in model.reconstruction_head.parameters()}
    exported = model.exported_state()
    assert {k.split(".")[0] for k in exported} == {"lstm", "reconstruction_head"}
    both = PretrainModel(CONFIG, (*FOUR, RECONSTRUCTION))
    assert set(both(x)) >= {"logits", "pointers", "expansion_countdown", RECONSTRUCTION}
    prefixes = {k.split(".")[0] for k in both.exported_state()}
    assert prefixes == {
        "lstm",
        "projection",
        "type_head",
        "pointer_head",
        "expansion_binary_head",
        "expansion_countdown_head",
        "reconstruction_head",
    }
    assert both.log_sigma(RECONSTRUCTION) is both.log_sigma_reconstruction


def test_heads_are_named_and_jadecompacts_train_together() -> None:
    with pytest.raises(ConfigError, match="unknown pretraining head"):
        PretrainModel(CONFIG, ("volume",))
    with pytest.raises(ConfigError, match="train together"):
        PretrainModel(CONFIG, ("type", RECONSTRUCTION))
