"""``--init``: start a run from pretrained weights instead of a random initialisation.

What a run may start from: a ``moola pretrain`` output (``pretrained.pt`` or its run
folder), a ``moola train`` run (its ``best.pt`` or its folder), or ``pretrained``, the
weights shipped inside moola (:data:`SHIPPED_FILE`; README "Pretraining", how they were
made). The trunk must fit: the same features in the same order and the same trunk sizes,
else a named error lists what differs. Every head whose tensors all fit by name and shape
is loaded too; the others (a head the checkpoint lacks, the reconstruction head in a
JadeCompact, another ``projection_dim``) keep their random initialisation, and the record
says which and why. Loading draws nothing from the RNG, so the run is otherwise the one
it would have been.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from moola.errors import MoolaError
from moola.models.multitask import MultiTaskModel
from moola.models.pretrain import HEAD_MODULES, TRUNK_MODULES
from moola.rundir.pretrained import InitWeights, read_init_weights

#: ``--init pretrained``: the weights shipped in the package.
SHIPPED = "pretrained"
SHIPPED_FILE = Path(__file__).resolve().parents[1] / "weights" / "pretrained.pt"

#: The one command that made the shipped weights, flag by flag (README "Pretraining";
#: ``nox -s pretrained`` runs it from the repository root; a test runs a short version). The
#: synthetic market only: no third party's bars are in the weights.
SHIPPED_FLAGS: dict[str, str] = {
    "--data": "synthetic:1000000",
    "--objective": "rule",
    "--steps": "1500",
    "--seed": "0",
    "--threads": "1",
    "--out": "runs/pretrained",
    "--export": "src/moola/weights/pretrained.pt",
}
SHIPPED_COMMAND: tuple[str, ...] = ("pretrain", *(x for kv in SHIPPED_FLAGS.items() for x in kv))

#: The sizes that shape the trunk: they must match for its weights to load.
TRUNK_SIZES = ("n_features", "hidden_size", "num_layers")


class InitMismatchError(MoolaError):
    """Weights that do not fit the run: other features or other trunk sizes."""


def resolve_init(spec: str) -> InitWeights:
    """The weights ``--init spec`` names (``pretrained``: the shipped ones)."""
    if spec.strip().lower() == SHIPPED:
        if not SHIPPED_FILE.is_file():
            raise InitMismatchError(
                "this installation of moola has no shipped pretrained weights "
                f"({SHIPPED_FILE.name} is missing from the package); reinstall moola, or make "
                "them with the command in the README's Pretraining section and pass the file"
            )
        return read_init_weights(SHIPPED_FILE)
    return read_init_weights(Path(spec).expanduser())


def check_fits(
    init: InitWeights, feature_names: tuple[str, ...], sizes: dict[str, Any], spec: str
) -> None:
    """The trunk loads only on the same features and trunk sizes; name every difference."""
    differences = []
    if list(init.feature_names) != list(feature_names):
        differences.append(
            f"features: {len(init.feature_names)} {list(init.feature_names)} in the "
            f"checkpoint, {len(feature_names)} {list(feature_names)} in this run"
        )
    for name in TRUNK_SIZES:
        theirs, ours = init.model_config.get(name), sizes.get(name)
        if name != "n_features" and theirs != ours:
            differences.append(f"{name}: {theirs} in the checkpoint, {ours} in this run")
    if differences:
        raise InitMismatchError(
            f"--init {spec}: the weights do not fit this run: " + "; ".join(differences) + ". "
            "Train with the checkpoint's --features and model sizes (its recipe records them), "
            "or use other weights"
        )


def load_init(
    model: MultiTaskModel,
    spec: str,
    feature_names: tuple[str, ...],
    sizes: dict[str, Any],
) -> dict[str, Any]:
    """Load ``spec``'s trunk and fitting heads into ``model``; the record ``metrics.json``
    and the checkpoint keep (plain data)."""
    init = resolve_init(spec)
    check_fits(init, feature_names, sizes, spec)
    state = model.state_dict()
    trunk = [k for k in init.weights if k.split(".")[0] in TRUNK_MODULES]
    wrong = [k for k in trunk if k not in state or state[k].shape != init.weights[k].shape]
    if not trunk or wrong:
        raise InitMismatchError(
            f"--init {spec}: the trunk's weights do not fit this model "
            f"({'no trunk weights' if not trunk else ', '.join(wrong[:3])})"
        )
    chosen = {k: init.weights[k] for k in trunk}
    loaded, skipped = list(TRUNK_MODULES), {}
    modules = dict.fromkeys(m for head in HEAD_MODULES.values() for m in head)
    for module in modules:
        keys = [k for k in init.weights if k.split(".")[0] == module]
        if not keys:
            continue
        if not any(k.startswith(f"{module}.") for k in state):
            skipped[module] = "not in this model"
            continue
        own = [k for k in state if k.split(".")[0] == module]
        misfit = [
            k for k in own if k not in init.weights or init.weights[k].shape != state[k].shape
        ]
        if misfit:
            skipped[module] = f"shapes differ ({misfit[0]})"
            continue
        chosen.update({k: init.weights[k] for k in own})
        loaded.append(module)
    with torch.no_grad():
        for name, tensor in chosen.items():
            state[name].copy_(tensor.to(state[name].device, state[name].dtype))
    return {
        "source": spec,
        "path": str(init.path),
        "kind": init.kind,
        "digest": init.digest,
        "loaded": loaded,
        "skipped": skipped,
        "recipe": init.recipe,
    }


def init_changed(record: dict[str, Any] | None, spec: str | None) -> str | None:
    """Why a run started from ``record`` cannot continue with ``spec`` now (the resume
    guard's part for ``--init``): other weights behind the same name. None: the same, or the
    weights are gone (nothing to compare; the checkpoint holds the run's own)."""
    if record is None or spec is None:
        return None
    try:
        digest = resolve_init(spec).digest
    except MoolaError:
        return None
    if digest != record.get("digest"):
        return (
            f"init {spec!r}: the weights there changed since the run started from them "
            f"(sha256 {str(record.get('digest'))[:12]}… -> {digest[:12]}…)"
        )
    return None
