"""TensorBoard scalars for a run, so it can be watched live (``--tensorboard DIR``).

Optional: needs the ``tensorboard`` package (``pip install 'moola[tensorboard]'``), imported
only when a run asks for it. Values are written when the loop already has them on the host
(log intervals, evaluations), so this adds no device syncs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from moola.errors import ConfigError


class TensorBoardLog:
    """Scalars under ``train/``, ``validation/`` and ``telemetry/``, one series per task."""

    def __init__(self, folder: str) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError(
                "--tensorboard needs the tensorboard package: pip install 'moola[tensorboard]' "
                "(or drop --tensorboard)"
            ) from None
        self.folder = folder
        self._make = SummaryWriter
        self._writer: Any = None

    @property
    def writer(self) -> Any:
        """The open writer (reopened, appending a new event file, after :meth:`close`)."""
        if self._writer is None:
            self._writer = self._make(log_dir=self.folder)
        return self._writer

    def train(self, step: int, losses: Mapping[str, float], weights: Mapping[str, float]) -> None:
        for name, value in losses.items():
            self.writer.add_scalar(f"train/loss/{name}", value, step)
        for name, value in weights.items():
            self.writer.add_scalar(f"train/weight/{name}", value, step)

    def validation(
        self, step: int, losses: Mapping[str, float], metrics: Mapping[str, Mapping[str, float]]
    ) -> None:
        for name, value in losses.items():
            self.writer.add_scalar(f"validation/loss/{name}", value, step)
        for name, values in metrics.items():
            for key, value in values.items():
                self.writer.add_scalar(f"validation/{key}/{name}", value, step)

    def telemetry(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            step = record["step"]
            for name, values in record.items():
                if name == "step":
                    continue
                for key, value in values.items():
                    self.writer.add_scalar(f"telemetry/{key}/{name}", value, step)

    def close(self) -> None:
        """Flush and close the event file (the end of a fit)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
