"""The Balancer base contract in detail: where the state lives (the device given, the CPU by
default: checked on the ``meta`` device, which needs no accelerator), state snapshots that
never alias live state, and what ``load_state_dict`` does with each kind of attribute."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
import torch

from moola.balancing import BALANCERS, Balancer, StepContext, make_balancer
from tests.helpers.balancing import NAMES, TASKS, run

#: Tensor attributes each balancer keeps (besides ``priorities``), all on its device.
TENSORS = {
    "trunknorm": ["gain"],
    "static": ["weights"],
    "uncertainty": ["likelihood_factor", "relative_priority"],
    "gradnorm": ["weights", "initial_losses", "initialised", "relative_priority"],
    "pcgrad": [],
    "famo": ["logits", "previous_losses"],
    "legacy": [],
}


def test_every_balancer_is_listed() -> None:
    assert set(TENSORS) == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_the_default_device_is_the_cpu(name: str) -> None:
    balancer = BALANCERS[name](TASKS)  # no device given
    assert balancer.device == torch.device("cpu")
    for attr in ["priorities", *TENSORS[name]]:
        assert getattr(balancer, attr).device == torch.device("cpu"), attr


@pytest.mark.parametrize("name", NAMES)
def test_the_state_lives_on_the_given_device(name: str) -> None:
    balancer = make_balancer(name, TASKS, device="meta")
    assert balancer.device == torch.device("meta")
    for attr in ["priorities", *TENSORS[name]]:
        assert getattr(balancer, attr).device.type == "meta", attr
    for param in balancer.parameters():
        assert param.device.type == "meta"


def test_custom_static_weights_live_on_the_given_device() -> None:
    balancer = make_balancer("static", TASKS, device="meta", weights=[1, 2, 3, 4])
    assert balancer.weights.device.type == "meta" and balancer.weights.shape == (4,)
    cpu = make_balancer("static", TASKS, weights=[1, 2, 3, 4])
    assert cpu.weights.tolist() == [1.0, 2.0, 3.0, 4.0] and cpu.weights.dtype == torch.float32
    with pytest.raises(ValueError, match="finite and >= 0"):  # float32 overflow is not finite
        make_balancer("static", TASKS, weights=[1, 2, 3, 1e39])


@pytest.mark.parametrize("name", NAMES)
def test_repr_names_the_class_and_tasks(name: str) -> None:
    balancer = make_balancer(name, TASKS)
    expected = f"{type(balancer).__name__}(tasks=['type', 'pointers', 'binary', 'countdown'])"
    assert repr(balancer) == expected


# ---------------------------------------------------------------- snapshots


def flatten(state: Any) -> list[torch.Tensor]:
    """Every tensor in a (nested) state, in a stable order, cloned."""
    if isinstance(state, torch.Tensor):
        return [state.detach().clone()]
    if isinstance(state, dict):
        return [t for key in sorted(state, key=str) for t in flatten(state[key])]
    if isinstance(state, list | tuple):
        return [t for item in state for t in flatten(item)]
    return [torch.tensor(float(state))] if isinstance(state, int | float | bool) else []


@pytest.mark.parametrize("name", ["gradnorm", "famo", "trunknorm", "legacy"])
def test_a_state_dict_is_a_snapshot(name: str) -> None:
    """Steps after a state_dict never change it (the optimizers of gradnorm and famo update
    their moments in place: a shallow copy would follow them)."""
    _, balancer, _, _ = run(name, 2)
    state = balancer.state_dict()
    before = flatten(state)
    assert before, "nothing to compare"
    if name == "famo":
        balancer.after_step(torch.rand(4) + 1.0)  # moves the logits and Adam's moments
    else:
        run_more = run(name, 3)[1].state_dict()  # a balancer further along, loaded ...
        balancer.load_state_dict(run_more)  # ... into this one: its live state changes
    after = flatten(state)
    assert len(before) == len(after)
    for a, b in zip(before, after):
        assert torch.equal(a, b)


def test_one_snapshot_restores_the_same_state_twice() -> None:
    """Loading copies plain values too: the balancer's later updates (legacy's running means
    change in place) never reach the snapshot it was restored from."""
    _, source, _, _ = run("legacy", 2)
    snapshot = source.state_dict()
    means = dict(snapshot["running_means"])
    target = make_balancer("legacy", TASKS)
    target.load_state_dict(snapshot)
    target.normalizers(torch.tensor([9.0, 9.0, 9.0, 9.0]))
    assert snapshot["running_means"] == means and snapshot["step_count"] == 2
    target.load_state_dict(snapshot)
    assert target.running_means == means and target.step_count == 2


@pytest.mark.parametrize("name", ["trunknorm", "gradnorm", "famo", "legacy"])
def test_a_missing_key_is_named(name: str) -> None:
    balancer = make_balancer(name, TASKS)
    state = balancer.state_dict()
    dropped = sorted(state)[0]
    del state[dropped]
    with pytest.raises(KeyError, match=rf"{name} balancer state is missing \['{dropped}'\]"):
        balancer.load_state_dict(state)


class Toy(Balancer):
    """A balancer with one attribute of each kind the base class loads differently."""

    name = "toy"
    state_attrs: ClassVar[tuple[str, ...]] = ("tensor", "module", "plain")

    def __init__(self) -> None:
        super().__init__(TASKS)  # the base class's default device
        self.tensor = torch.zeros(2)
        self.module = torch.nn.Linear(1, 1)
        self.plain: Any = [1]

    def backward(self, losses: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        raise NotImplementedError


def test_load_copies_tensors_in_place_and_replaces_the_rest() -> None:
    toy = Toy()
    assert toy.device == torch.device("cpu") and toy.priorities.device == torch.device("cpu")
    tensor = toy.tensor
    weight = toy.module.weight
    module_state = {"weight": torch.full((1, 1), 3.0), "bias": torch.zeros(1)}
    toy.load_state_dict({"tensor": torch.ones(2), "module": module_state, "plain": [2]})
    assert toy.tensor is tensor and toy.tensor.tolist() == [1.0, 1.0]  # in place
    assert toy.module.weight is weight and weight.detach().item() == 3.0  # through load_state_dict
    assert toy.plain == [2]


def test_load_replaces_an_attribute_whose_kind_changed() -> None:
    """A tensor attribute given a plain value (or the reverse) is replaced, not copied into."""
    toy = Toy()
    toy.load_state_dict({"tensor": 5.0, "module": toy.module.state_dict(), "plain": [1]})
    assert toy.tensor == 5.0
    toy = Toy()
    plain = torch.arange(3.0)
    toy.load_state_dict(
        {"tensor": torch.ones(2), "module": toy.module.state_dict(), "plain": plain}
    )
    assert torch.equal(toy.plain, plain) and toy.plain is not plain


def test_the_state_dict_of_each_kind() -> None:
    toy = Toy()
    state = toy.state_dict()
    assert set(state) == {"tensor", "module", "plain"}
    assert state["tensor"] is not toy.tensor and torch.equal(state["tensor"], toy.tensor)
    assert set(state["module"]) == {"weight", "bias"}
    assert state["module"]["weight"] is not toy.module.weight
    assert state["plain"] == [1] and state["plain"] is not toy.plain
    toy.plain.append(2)
    assert state["plain"] == [1]
