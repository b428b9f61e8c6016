"""``moola predict``'s verdict on labelled windows beside the run's own, and every way it is
shown: the table, the summary line, the chart's title and the parquet file's metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from moola.inference.run_verdict import RunVerdict
from moola.tasks import TASK_NAMES
from moola.verdict.summary import learned_count, summary_line


@dataclass
class PredictVerdict:
    """``moola predict``'s verdict on labelled windows, beside the run's own."""

    n_windows: int
    #: (N,) True for windows that share bars with the run's training or validation windows;
    #: None when the run recorded no bars (no ``judging.pt``).
    in_sample: np.ndarray | None
    run: RunVerdict
    #: Per head (judged windows only): ``loss``, ``baseline``, ``initial``, ``metrics``,
    #: ``learned`` and ``why``, as training's records. None: no verdict, see ``reason``.
    heads: dict[str, dict[str, Any]] | None = None
    reason: str | None = None
    #: ``{"kind", "text"}`` entries, as in ``metrics.json`` (too few judged windows).
    warnings: list[dict[str, str]] = field(default_factory=list)
    n_train: int | None = None  # the run's training windows (judging.pt)
    weights: str = "best"  # which of the run's weights were judged

    @property
    def n_in_sample(self) -> int | None:
        return None if self.in_sample is None else int(self.in_sample.sum())

    @property
    def n_judged(self) -> int:
        if self.heads is None or self.in_sample is None:
            return 0
        return int((~self.in_sample).sum())

    def counts(self) -> str:
        """``"12 judged (never seen by the run), 28 in-sample (not judged)"``."""
        if self.in_sample is None:
            return f"{self.n_windows} windows, none judged"
        out = self.n_windows - int(self.in_sample.sum())
        return f"{out} never seen by the run, {self.n_in_sample} in-sample (not judged)"

    def summary(self) -> str:
        """One line: predict's verdict (or why there is none) and the run's own."""
        here = (
            f"no verdict here: {self.reason}"
            if self.heads is None
            else summary_line(
                self.heads,
                n_train="?" if self.n_train is None else self.n_train,
                n_held=self.n_judged,
                held="never-seen",
                weights=f"{self.weights} weights",
            )
        )
        run = (
            f"the run's own verdict: {learned_count(self.run.heads)} ({self.run.source})"
            if self.run.known
            else f"the run's own verdict is unknown: {self.run.source}"
        )
        return f"{here}; {run}"

    def chart_line(self) -> str:
        """The chart's title line: both verdicts, short, and the in-sample count."""
        if self.heads is None:
            here = "no verdict here" + (
                " (in-sample)" if self.in_sample is not None and self.in_sample.any() else ""
            )
        else:
            here = f"verdict on {self.n_judged} never-seen windows: {learned_count(self.heads)}"
        run = learned_count(self.run.heads) if self.run.known else "unknown"
        text = f"{here} | the run's own verdict (validation): {run}"
        if self.in_sample is not None and self.in_sample.any():
            text += f" | {int(self.in_sample.sum())} in-sample windows not judged"
        return text

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: what the parquet file's metadata holds (``moola.verdict``)."""
        return {
            "n_windows": self.n_windows,
            "n_in_sample": self.n_in_sample,
            "n_judged": self.n_judged,
            "verdict": None
            if self.heads is None
            else {
                name: {"learned": h["learned"], "why": h["why"], "metrics": h["metrics"]}
                for name, h in self.heads.items()
            },
            "reason": self.reason,
            "summary": self.summary(),
            "warnings": self.warnings,
            "run_verdict": self.run.to_dict(),
        }


def score_table_rows(verdict: PredictVerdict) -> tuple[list[str], list[list[str]]]:
    """Per head: loss ÷ prior [95% CI], the metric, predict's verdict and the run's own."""
    from moola.report import metric_text, ratio_text, verdict_text

    header = [
        "head",
        "loss / prior [95% CI]",
        "metric (prior of the run's training split)",
        f"verdict here ({verdict.n_judged} windows never seen by the run)",
        "the run's own verdict (validation)",
    ]
    names = list(verdict.heads) if verdict.heads is not None else list(_tasks_names(verdict))
    rows = []
    for name in names:
        run = verdict.run.word(name)
        if verdict.heads is None:
            rows.append([name, "-", "-", "not judged (see below)", run])
            continue
        h = verdict.heads[name]
        rows.append(
            [
                name,
                ratio_text(h["loss"], h["baseline"], h["metrics"]),
                metric_text(name, h["metrics"]),
                verdict_text(h),
                run,
            ]
        )
    return header, rows


def _tasks_names(verdict: PredictVerdict) -> list[str]:
    return list(verdict.run.heads) if verdict.run.heads else list(TASK_NAMES)
