"""One configuration object for a training run, with defaults for the main job.

It imports no torch (``moola train --help`` is built from its fields): the device, the
model sizes and the priorities import what they check only when a config is validated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from moola.balancing.names import BALANCER_NAMES, DEFAULT_BALANCER
from moola.data.features import (
    DEFAULT_FEATURE_SET,
    FEATURE_GROUPS,
    FEATURE_SETS,
    resolve_feature_set,
)
from moola.data.sources import POOL_SEPARATOR
from moola.errors import ConfigError

if TYPE_CHECKING:
    import torch


def setting(
    default: Any = MISSING,
    *,
    help: str,
    factory: Callable[[], Any] | None = None,
    flag: str | None = None,
    cli: bool = True,
    zero_means_none: bool = False,
    repeat_joins: str | None = None,
) -> Any:
    """A TrainConfig field with what ``moola train``'s flag needs: its help text, its flag
    name (default ``--field-name``), whether it is a flag at all (dict fields are set with
    ``--set KEY=JSON``), whether a 0 on the command line means None (``--grad-clip 0``), and
    whether the flag may repeat, its values joined (``--data A --data B`` -> ``"A|B"``)."""
    metadata = {
        "help": help,
        "flag": flag,
        "cli": cli,
        "zero_means_none": zero_means_none,
        "repeat_joins": repeat_joins,
    }
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class TrainConfig:
    """Everything that determines a run. Same config + same machine = bit-identical history.

    Each field's help is the help of its ``moola train`` flag; the flags and their defaults
    are generated from these fields (:func:`moola.train.fields.add_train_flags`).
    """

    # data
    data: str = setting(
        "synthetic",
        help="'synthetic', synthetic:BARS[:seed] (a realistic market of BARS bars, labelled by "
        "moola label's rule), backtesting:NAME (real bars: EURUSD, GOOG), a .parquet file, or "
        "a folder with bars.csv + labels.csv; repeat to pool several series in one dataset",
        repeat_joins=POOL_SEPARATOR,
    )
    n_windows: int = setting(1024, help="synthetic data only: the number of windows")
    data_seed: int = setting(
        0, help="synthetic data only: the market's seed, fixed while --seed varies the run"
    )
    window: int = setting(105, help="bars per window")
    stride: int = setting(
        15,
        help="bars between window starts where a bar series is cut and labelled by moola "
        "label's rule on the fly (synthetic:BARS[:seed], backtesting:NAME, a bar .csv, "
        ".parquet or .npy); each bar is stored once whatever the stride",
    )
    inputs: str = setting(
        "auto",
        help="which bars a window's features see: series (its series up to each bar), window "
        "(the window alone, as the original built them), auto (window for --features "
        "original, else series); README 'Inputs: per series or per window'",
    )
    val_fraction: float = setting(0.2, help="share of the windows held out for validation")
    folds: int = setting(
        0,
        help="K walk-forward folds in time instead of one split (each purged; only the test "
        "blocks judge; writes folds.json); 0: one split",
    )
    embargo: int = setting(
        0,
        help="bars kept free between training and validation (or test) windows of one series, "
        "beyond the purge of windows that share bars",
    )
    features: str = setting(
        DEFAULT_FEATURE_SET,
        help=f"feature set ({', '.join(FEATURE_SETS)}) or comma-separated groups of "
        f"{', '.join(FEATURE_GROUPS)}",
    )
    # optimisation
    steps: int = setting(1000, help="total optimizer steps (also when resuming)")
    batch_size: int = setting(32, help="windows per batch (at most the training windows)")
    lr: float = setting(
        3e-3, help="AdamW learning rate (the original: 1e-3; docs: training, 'Why these defaults')"
    )
    weight_decay: float = setting(0.01, help="AdamW weight decay")
    grad_clip: float | None = setting(
        1.0, help="max global gradient norm; 0 or none disables clipping", zero_means_none=True
    )
    seed: int = setting(
        0,
        help="seed of the run: initialisation, split, batch order and dropout (the synthetic "
        "market stays at --data-seed)",
    )
    # tasks and balancing
    balancer: str = setting(
        DEFAULT_BALANCER, help=f"loss balancer: {', '.join(sorted(BALANCER_NAMES))}"
    )
    balancer_options: dict[str, Any] = setting(
        factory=dict, help="the balancer's options (--set 'balancer_options={...}')", cli=False
    )
    countdown_units: str = setting(
        "normalized",
        help="normalized (±20 bars -> ±1) or bars: raw ±20 targets (reproduces the legacy failure)",
    )
    priorities: dict[str, float] | None = setting(
        None,
        help="task priorities (--set 'priorities={...}'); none: 0.10/0.70/0.10/0.10",
        cli=False,
    )
    model: dict[str, Any] = setting(
        factory=dict,
        help="JadeCompact sizes (--set 'model={\"hidden_size\": 32}'); n_features comes from the data",
        cli=False,
    )
    # initialisation (README "Pretraining")
    init: str | None = setting(
        None,
        help="start from pretrained weights: a moola pretrain output (pretrained.pt or its run "
        "folder), a moola train run folder (its best.pt), or 'pretrained' (the weights shipped "
        "with moola); loads the trunk and every head whose shapes match; none: random",
    )
    freeze_trunk_steps: int = setting(
        0,
        help="train the heads only for the first N steps (the trunk keeps its initial "
        "weights), then everything; 0: never frozen",
    )
    # execution
    device: str = setting("auto", help="auto (CUDA when available), cpu, cuda or cuda:N")
    threads: int | None = setting(
        None, help="CPU intra-op threads; none: follow the machine's load (moola.threads)"
    )
    graph: bool = setting(False, help="capture the train step in a CUDA graph (CUDA only)")
    bf16: bool = setting(
        False, help="bfloat16 autocast of the forward pass (pays off only at large batch on GPU)"
    )
    # logging and output
    log_every: int = setting(10, help="steps between reading the losses back to the host")
    eval_every: int = setting(
        200, help="steps between validation passes (0: only at the start and the end)"
    )
    checkpoint_every: int = setting(0, help="steps between checkpoints (0: only the final one)")
    telemetry_every: int = setting(
        100,
        help="steps between measuring each task's trunk-gradient norm, share and worst cosine "
        "(metrics.json 'telemetry'; 0: never). Does not change the training trajectory",
    )
    tensorboard_dir: str | None = setting(
        None,
        help="write losses, validation, shares, cosines and weights as TensorBoard scalars "
        "into this folder (needs the 'tensorboard' extra)",
        flag="--tensorboard",
    )
    patience: int = setting(
        0, help="stop after N evaluations (every --eval-every steps) without a new best; 0: never"
    )
    out_dir: str | None = setting(
        "runs/latest",
        help="output folder for metrics.json, loss_curves.png, checkpoint.pt and best.pt",
        flag="--out",
    )
    progress: bool = setting(
        True, help="a progress bar while training (--no-progress: none)", flag="--no-progress"
    )

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        positive = ("n_windows", "steps", "batch_size", "log_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in (
            "eval_every",
            "checkpoint_every",
            "patience",
            "telemetry_every",
            "freeze_trunk_steps",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.patience and not self.eval_every:
            raise ConfigError("patience needs evaluations: set eval_every >= 1 (or patience 0)")
        if self.window < 2:
            raise ConfigError(f"window must be >= 2, got {self.window}")
        if self.stride < 1:
            raise ConfigError(f"stride must be >= 1 bar, got {self.stride}")
        if self.inputs not in INPUTS:
            raise ConfigError(f"inputs must be one of {', '.join(INPUTS)}, got {self.inputs!r}")
        if self.folds < 0:
            raise ConfigError(f"folds must be >= 0, got {self.folds}")
        if self.embargo < 0:
            raise ConfigError(f"embargo must be >= 0 bars, got {self.embargo}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if not self.lr > 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ConfigError(f"grad_clip must be > 0 or None, got {self.grad_clip}")
        if self.balancer not in BALANCER_NAMES:
            raise ConfigError(
                f"unknown balancer {self.balancer!r}; valid balancers are: "
                f"{', '.join(sorted(BALANCER_NAMES))}"
            )
        resolve_feature_set(self.features)  # an unknown name lists the valid ones
        if self.countdown_units not in ("normalized", "bars"):
            raise ConfigError(
                f"countdown_units must be 'normalized' or 'bars', got {self.countdown_units!r}"
            )
        check_model_sizes(self.model)
        if self.priorities is not None:
            from moola.tasks import resolve_priorities

            resolve_priorities(self.priorities)  # unknown task names list the valid ones
        if self.init is not None and not self.init.strip():
            raise ConfigError("init must name a checkpoint, a run folder or 'pretrained', got ''")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"threads must be >= 1, got {self.threads}")
        self.resolve_device()

    def resolve_device(self) -> torch.device:
        """``auto`` picks CUDA when available; an unavailable CUDA request is an error."""
        return resolve_device(self.device)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ConfigError(
                f"unknown config key(s) {sorted(unknown)}; known keys: {sorted(known)}"
            )
        return cls(**values)


#: The values of ``inputs``: auto, or the semantics of moola.data.store.plan.
INPUTS = ("auto", "series", "window")

#: What a config recorded before a field existed meant by it: checkpoints and best.pt written
#: before the series store cut series every 15 bars and built every window's inputs alone.
LEGACY_VALUES: dict[str, Any] = {"stride": 15, "inputs": "window"}


def recorded_config(values: Mapping[str, Any]) -> dict[str, Any]:
    """A recorded config (a checkpoint's, best.pt's) with the fields it predates set to what
    it meant by them (:data:`LEGACY_VALUES`), so that it resumes on the inputs it had."""
    return {**{k: v for k, v in LEGACY_VALUES.items() if k not in values}, **values}


def check_model_sizes(sizes: Any) -> None:
    """``model`` holds JadeConfig fields (n_features comes from the data) with valid values,
    so that a typo fails when the config is made, not as a TypeError inside a run."""
    from moola.models import JadeConfig

    valid = [f.name for f in fields(JadeConfig) if f.name != "n_features"]
    if not isinstance(sizes, dict):
        raise ConfigError(f"model must be a dict of sizes ({', '.join(valid)}), got {sizes!r}")
    unknown = sorted(set(sizes) - set(valid))
    if unknown:
        raise ConfigError(
            f"unknown model setting(s) {', '.join(map(repr, unknown))}; valid keys: {', '.join(valid)}"
        )
    try:
        JadeConfig(**{**sizes, "n_features": 1})
    except TypeError as exc:
        raise ConfigError(f"model settings {sizes!r}: {exc}") from None


def resolve_device(spec: str) -> torch.device:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` as a device; a named error for anything else,
    and for CUDA where there is none (rather than a torch assertion at the first ``.to()``)."""
    import torch

    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise ConfigError(f"unknown device {spec!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {spec!r} requested but CUDA is not available; use --device cpu")
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"unsupported device {spec!r}; use auto, cpu, cuda or cuda:N")
    return device
