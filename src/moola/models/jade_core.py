"""JadeCompact: a BiLSTM trunk shared by four task heads.

Faithful to the original model (see ``shared/reference/original-moola-facts.md``):
input dropout -> BiLSTM -> (mean pool -> projection) for the window-level heads,
and per-timestep heads straight on the LSTM output. Every size is configurable.

The forward pass is split into :meth:`JadeCompact.encode` (the shared trunk) and
:meth:`JadeCompact.decode` (the heads) so that balancers and probes can take
per-task gradients on the shared representation without a second forward pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import torch
from torch import nn

from moola.errors import ConfigError, InputValidationError
from moola.models.multitask import MultiTaskModel

MODEL_ID = "moola-lstm-s-v1.1"

#: Forward-output key holding each task's prediction.
OUTPUT_KEYS: dict[str, str] = {
    "type": "logits",
    "pointers": "pointers",
    "binary": "expansion_binary_logits",
    "countdown": "expansion_countdown",
}

#: Initial log-sigma values of the original model (uncertainty weighting).
LOG_SIGMA_INIT: dict[str, float] = {"type": 0.0, "pointers": -0.30, "binary": 0.0, "countdown": 0.0}

# Attribute names of the original model, kept so old state dicts read naturally.
_LOG_SIGMA_ATTR: dict[str, str] = {
    "type": "log_sigma_type",
    "pointers": "log_sigma_ptr",
    "binary": "log_sigma_binary",
    "countdown": "log_sigma_countdown",
}


@dataclass(frozen=True)
class JadeConfig:
    """Every size of JadeCompact. Defaults match the original model.

    ``n_features`` = 13, the original's feature count (the ``original`` feature set); the
    trainer always passes the count of the features it built (16 for the default, ``all``).
    """

    n_features: int = 13
    hidden_size: int = 96
    num_layers: int = 1
    input_dropout: float = 0.3
    recurrent_dropout: float = 0.7  # only applied between stacked LSTM layers
    dense_dropout: float = 0.6
    projection_dim: int | None = 64  # None: pooled LSTM output feeds the heads directly
    n_classes: int = 3

    def __post_init__(self) -> None:
        for name in ("n_features", "hidden_size", "num_layers", "n_classes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"JadeConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.n_classes < 2:
            raise ConfigError(f"JadeConfig.n_classes must be >= 2, got {self.n_classes}")
        if self.projection_dim is not None and self.projection_dim < 1:
            raise ConfigError(
                f"JadeConfig.projection_dim must be >= 1 or None, got {self.projection_dim}"
            )
        for name in ("input_dropout", "recurrent_dropout", "dense_dropout"):
            p = getattr(self, name)
            if not 0.0 <= p < 1.0:
                raise ConfigError(f"JadeConfig.{name} must be in [0, 1), got {p}")

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class JadeCompact(MultiTaskModel):
    """Multi-task BiLSTM for OHLC windows: type, pointers, binary span and countdown heads."""

    def __init__(self, config: JadeConfig | None = None, **overrides: object) -> None:
        super().__init__()
        if config is None:
            config = JadeConfig(**overrides)  # type: ignore[arg-type]
        elif overrides:
            config = JadeConfig(**{**config.to_dict(), **overrides})  # type: ignore[arg-type]
        self.config = config
        #: Check inputs for NaN/inf on every call. This reads a value back to the host, so
        #: the trainer turns it off after validating the whole dataset once.
        self.check_finite = True

        c = config
        lstm_width = 2 * c.hidden_size
        self.input_dropout = nn.Dropout(c.input_dropout)
        self.lstm = nn.LSTM(
            input_size=c.n_features,
            hidden_size=c.hidden_size,
            num_layers=c.num_layers,
            batch_first=True,
            bidirectional=True,
            dropout=c.recurrent_dropout if c.num_layers >= 2 else 0.0,
        )
        if c.projection_dim is None:
            self.projection: nn.Module = nn.Identity()
            pooled_width = lstm_width
        else:
            self.projection = nn.Sequential(nn.Linear(lstm_width, c.projection_dim), nn.ReLU())
            pooled_width = c.projection_dim

        self.type_head = nn.Sequential(
            nn.Dropout(c.dense_dropout), nn.Linear(pooled_width, c.n_classes)
        )
        self.pointer_head = nn.Sequential(nn.Dropout(c.dense_dropout), nn.Linear(pooled_width, 2))
        self.expansion_binary_head = nn.Sequential(
            nn.Dropout(c.dense_dropout), nn.Linear(lstm_width, 1)
        )
        self.expansion_countdown_head = nn.Sequential(
            nn.Dropout(c.dense_dropout), nn.Linear(lstm_width, 1)
        )

        self.log_sigma_type = nn.Parameter(torch.tensor(LOG_SIGMA_INIT["type"]))
        self.log_sigma_ptr = nn.Parameter(torch.tensor(LOG_SIGMA_INIT["pointers"]))
        self.log_sigma_binary = nn.Parameter(torch.tensor(LOG_SIGMA_INIT["binary"]))
        self.log_sigma_countdown = nn.Parameter(torch.tensor(LOG_SIGMA_INIT["countdown"]))

    # ------------------------------------------------------------------ structure
    def trunk_parameters(self) -> list[nn.Parameter]:
        """Parameters used by *every* task: the BiLSTM. Gradient balance is measured here."""
        return list(self.lstm.parameters())

    def last_trunk_layer(self) -> list[nn.Parameter]:
        """The last LSTM layer, both directions (GradNorm measures its gradient norms)."""
        top = f"_l{self.config.num_layers - 1}"
        return [
            p for name, p in self.lstm.named_parameters() if name.split("_reverse")[0].endswith(top)
        ]

    def head_parameters(self) -> list[nn.Parameter]:
        """Parameters downstream of the trunk (projection and heads), excluding log-sigmas."""
        modules = (
            self.projection,
            self.type_head,
            self.pointer_head,
            self.expansion_binary_head,
            self.expansion_countdown_head,
        )
        return [p for m in modules for p in m.parameters()]

    def log_sigma(self, task: str) -> nn.Parameter:
        """The learnable log-sigma of ``task`` (used by uncertainty weighting)."""
        try:
            param: nn.Parameter = getattr(self, _LOG_SIGMA_ATTR[task])
        except KeyError:
            raise InputValidationError(
                f"no log-sigma for task {task!r}; tasks are {sorted(_LOG_SIGMA_ATTR)}"
            ) from None
        return param

    def log_sigma_parameters(self) -> list[nn.Parameter]:
        return [self.log_sigma(t) for t in _LOG_SIGMA_ATTR]

    # ------------------------------------------------------------------ forward
    def validate_input(self, x: torch.Tensor) -> None:
        """Raise :class:`InputValidationError` naming what is wrong with ``x``."""
        if not isinstance(x, torch.Tensor):
            raise InputValidationError(f"expected a torch.Tensor, got {type(x).__name__}")
        if x.dim() != 3:
            raise InputValidationError(
                f"expected input of shape (batch, seq_len, {self.config.n_features}), "
                f"got rank {x.dim()} shape {tuple(x.shape)}"
            )
        batch, seq_len, n_features = x.shape
        if batch == 0:
            raise InputValidationError("empty batch: input has batch size 0")
        if seq_len < 2:
            raise InputValidationError(f"sequence length must be >= 2 bars, got {seq_len}")
        if n_features != self.config.n_features:
            raise InputValidationError(
                f"expected {self.config.n_features} features per bar, got {n_features} "
                f"(input shape {tuple(x.shape)})"
            )
        if not x.is_floating_point():
            raise InputValidationError(f"expected a floating-point input, got dtype {x.dtype}")
        if self.check_finite and not bool(torch.isfinite(x).all()):
            bad = (~torch.isfinite(x)).nonzero()[0].tolist()
            raise InputValidationError(
                f"input contains NaN or inf (first at batch {bad[0]}, bar {bad[1]}, feature {bad[2]})"
            )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Shared trunk: (batch, seq, features) -> LSTM output (batch, seq, 2*hidden)."""
        self.validate_input(x)
        out, _ = self.lstm(self.input_dropout(x))
        return out

    def task_names(self) -> tuple[str, ...]:
        """The four heads (``decode`` feeds them all the same trunk output)."""
        return tuple(OUTPUT_KEYS)

    def decode_tasks(self, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The heads, each reading its own task's input (normally all the same trunk output).

        Feeding each head a separate leaf tensor lets one backward pass return every task's
        gradient on the shared representation separately (see ``moola.balancing.grads``).
        """
        missing = set(OUTPUT_KEYS) - set(inputs)
        if missing:
            raise InputValidationError(
                f"decode_tasks needs an input for every task; missing {sorted(missing)}"
            )
        pooled: dict[int, torch.Tensor] = {}

        def pool(h: torch.Tensor) -> torch.Tensor:
            if id(h) not in pooled:  # type and pointers share one projection when inputs are shared
                pooled[id(h)] = self.projection(h.mean(dim=1))
            return pooled[id(h)]

        logits = self.type_head(pool(inputs["type"]))
        pointers = torch.sigmoid(self.pointer_head(pool(inputs["pointers"])))
        binary_logits = self.expansion_binary_head(inputs["binary"]).squeeze(-1)
        countdown = self.expansion_countdown_head(inputs["countdown"]).squeeze(-1)
        return {
            "logits": logits,
            "pointers": pointers,
            "expansion_binary_logits": binary_logits,
            "expansion_binary": torch.sigmoid(binary_logits),
            "expansion_countdown": countdown,
            "sigma_type": self.log_sigma_type.exp(),
            "sigma_ptr": self.log_sigma_ptr.exp(),
            "sigma_binary": self.log_sigma_binary.exp(),
            "sigma_countdown": self.log_sigma_countdown.exp(),
        }

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
