"""One configuration object for a training run, with defaults for the main job."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch

from moola.balancing import BALANCERS, DEFAULT_BALANCER
from moola.data.features import DEFAULT_FEATURE_SET, resolve_feature_set
from moola.errors import ConfigError
from moola.tasks import resolve_priorities


@dataclass
class TrainConfig:
    """Everything that determines a run. Same config + same machine = bit-identical history."""

    # data
    data: str = "synthetic"  # "synthetic", a .parquet file, or a folder with bars.csv + labels.csv
    n_windows: int = 1024  # synthetic data only
    data_seed: int = 0  # synthetic data only: the market is fixed while `seed` varies the run
    window: int = 105
    val_fraction: float = 0.2
    features: str = DEFAULT_FEATURE_SET  # a feature set name or comma-separated groups
    # optimisation
    steps: int = 1000
    batch_size: int = 32
    lr: float = 3e-3  # the original: 1e-3; see README "Why these defaults"
    weight_decay: float = 0.01
    grad_clip: float | None = 1.0  # max global grad norm; None disables clipping
    seed: int = 0
    # tasks and balancing
    balancer: str = DEFAULT_BALANCER
    balancer_options: dict[str, Any] = field(default_factory=dict)
    countdown_units: str = "normalized"  # or "bars" (raw, reproduces the legacy failure)
    priorities: dict[str, float] | None = None  # default 0.10/0.70/0.10/0.10
    # model sizes, passed to JadeConfig (n_features is taken from the data)
    model: dict[str, Any] = field(default_factory=dict)
    # execution
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:N"
    threads: int | None = None  # CPU intra-op threads; None: follow the load (moola.threads)
    graph: bool = False  # capture the train step in a CUDA graph (CUDA only)
    bf16: bool = False  # bfloat16 autocast of the forward pass
    # logging and output
    log_every: int = 10  # steps between reading losses back to the host
    eval_every: int = 200  # steps between validation passes (0: only at start and end)
    checkpoint_every: int = 0  # steps between checkpoints (0: only the final one)
    patience: int = 0  # stop after this many evaluations without a new best (0: never)
    out_dir: str | None = "runs/latest"
    progress: bool = True

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        positive = ("n_windows", "steps", "batch_size", "log_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("eval_every", "checkpoint_every", "patience"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.patience and not self.eval_every:
            raise ConfigError("patience needs evaluations: set eval_every >= 1 (or patience 0)")
        if self.window < 2:
            raise ConfigError(f"window must be >= 2, got {self.window}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if not self.lr > 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ConfigError(f"grad_clip must be > 0 or None, got {self.grad_clip}")
        if self.balancer not in BALANCERS:
            raise ConfigError(
                f"unknown balancer {self.balancer!r}; valid balancers are: {', '.join(sorted(BALANCERS))}"
            )
        resolve_feature_set(self.features)  # an unknown name lists the valid ones
        if self.countdown_units not in ("normalized", "bars"):
            raise ConfigError(
                f"countdown_units must be 'normalized' or 'bars', got {self.countdown_units!r}"
            )
        check_model_sizes(self.model)
        if self.priorities is not None:
            resolve_priorities(self.priorities)  # unknown task names list the valid ones
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
