"""The league table of a sweep: per balancer (and data set and setting) and head, over seeds.

Built from the finished runs' ``metrics.json`` files only, so ``moola league DIR`` can rebuild
it at any time (also while a sweep is still running). For each group and head:

* final (and best) validation loss ÷ the prior's loss, mean ± sd over seeds
  (``best`` exists only where the run recorded a best step; otherwise n/a);
* the validation metric against the prior's, mean ± sd;
* the share of seeds on which the head learned (final verdict, best verdict);
* the run time (fit seconds), mean ± sd;

and per group, the share of seeds on which **every** head learned (final, best): the
measure of "every head learns on 4 of 5 seeds".

Settings that vary between runs (any config key other than seed, balancer, data, output
folder and progress) define separate groups, so a ``--set lr=...`` axis gets its own rows.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from moola.atomic import atomic_write, atomic_write_json, atomic_write_text
from moola.errors import ConfigError
from moola.report import HEAD_METRIC
from moola.rundir.layout import METRICS_NAME
from moola.sweep.runner import MANIFEST_NAME, read_finished_metrics
from moola.verdict import METRIC_RULES

LEAGUE_JSON, LEAGUE_MD, LEAGUE_PNG = "league.json", "league.md", "league.png"
#: Config keys that never split groups: the seed is what we average over, the others are
#: either explicit group columns (data, balancer) or not part of the experiment.
NOT_A_SETTING = frozenset({"seed", "balancer", "data", "out_dir", "progress"})


def mean_sd(values: Sequence[float]) -> dict[str, float | None]:
    """Mean and sample sd (n-1); sd is None for a single value, both None for none."""
    finite = [float(v) for v in values]
    if not finite:
        return {"mean": None, "sd": None}
    sd = statistics.stdev(finite) if len(finite) > 1 else None
    return {"mean": statistics.fmean(finite), "sd": sd}


def share(flags: Sequence[bool]) -> float | None:
    return sum(bool(f) for f in flags) / len(flags) if flags else None


def load_runs(directory: Path) -> list[dict[str, Any]]:
    """Every finished run (a readable metrics.json) in the folders directly under ``directory``."""
    if not directory.is_dir():
        raise ConfigError(f"{directory} is not a folder; point moola league at a sweep's --out")
    runs = []
    for run_dir in sorted(p for p in directory.iterdir() if p.is_dir()):
        metrics = read_finished_metrics(run_dir)
        if metrics is not None:
            runs.append({"name": run_dir.name, "metrics": metrics})
    return runs


def varying_settings(configs: Iterable[dict[str, Any]]) -> list[str]:
    """Config keys whose value differs between runs (the sweep's --set axes)."""
    seen: dict[str, set[str]] = {}
    configs = list(configs)
    for config in configs:
        for key, value in config.items():
            if key not in NOT_A_SETTING:
                seen.setdefault(key, set()).add(json.dumps(value, sort_keys=True))
    keys = set(seen)
    return sorted(k for k in keys if len(seen[k]) > 1 or any(k not in c for c in configs))


def build_league(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The league.json document (groups in a stable order: data, settings, balancer)."""
    configs = [run["metrics"].get("config", {}) for run in runs]
    setting_keys = varying_settings(configs)
    groups: dict[str, dict[str, Any]] = {}
    for run, config in zip(runs, configs):
        settings = {k: config.get(k) for k in setting_keys}
        key = json.dumps([config.get("data"), settings, config.get("balancer")], sort_keys=True)
        group = groups.setdefault(
            key,
            {
                "data": config.get("data"),
                "settings": settings,
                "balancer": config.get("balancer"),
                "runs": [],
            },
        )
        group["runs"].append(run)
    rows = [_summarise(group) for _, group in sorted(groups.items())]
    return {
        "runs": len(runs),
        "setting_keys": setting_keys,
        "datasets": sorted({str(c.get("data")) for c in configs}),
        "groups": rows,
    }


def _summarise(group: dict[str, Any]) -> dict[str, Any]:
    runs = group.pop("runs")
    metrics = [run["metrics"] for run in runs]
    heads: dict[str, Any] = {}
    names = list(dict.fromkeys(name for m in metrics for name in m.get("tasks", {})))
    for name in names:
        tasks = [m["tasks"][name] for m in metrics if name in m.get("tasks", {})]
        bests = [
            (m["best"]["tasks"][name], m["tasks"][name]["baseline"])
            for m in metrics
            if isinstance(m.get("best"), dict) and name in m["best"].get("tasks", {})
        ]
        metric_key, base_key, _ = HEAD_METRIC.get(name, ("", "", ""))
        head: dict[str, Any] = {
            "final_over_baseline": mean_sd([t["final"] / t["baseline"] for t in tasks]),
            "best_over_baseline": mean_sd([b["loss"] / base for b, base in bests])
            if bests
            else None,
            "metric": {
                "name": metric_key,
                **mean_sd(
                    [t["metrics"][metric_key] for t in tasks if metric_key in t.get("metrics", {})]
                ),
            },
            "constant": mean_sd(
                [t["metrics"][base_key] for t in tasks if base_key in t.get("metrics", {})]
            ),
            "learned_final": share([t["learned"] for t in tasks]),
            "learned_best": share([b["learned"] for b, _ in bests]) if bests else None,
            "n": len(tasks),
        }
        heads[name] = head
    seconds = [m["timing"]["fit_seconds"] for m in metrics if "timing" in m]
    with_best = [m["best"]["tasks"] for m in metrics if isinstance(m.get("best"), dict)]
    return {
        **group,
        "seeds": sorted(m.get("config", {}).get("seed") for m in metrics),
        "n": len(metrics),
        "run_seconds": mean_sd(seconds),
        "every_head_learned_final": share(
            [all(t["learned"] for t in m.get("tasks", {}).values()) for m in metrics]
        ),
        "every_head_learned_best": share(
            [all(t["learned"] for t in tasks.values()) for tasks in with_best]
        ),
        "heads": heads,
    }


# ---------------------------------------------------------------------------- rendering
def _pm(stat: dict[str, float | None] | None, fmt: str = "{:.3f}") -> str:
    if stat is None or stat["mean"] is None:
        return "n/a"
    if stat["sd"] is None:
        return fmt.format(stat["mean"])
    return f"{fmt.format(stat['mean'])} ± {fmt.format(stat['sd'])}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


def _settings_label(settings: dict[str, Any]) -> str:
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in settings.items()) or "-"


def league_rows(league: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Table header and rows; data and settings columns only when they vary."""
    several_data = len(league["datasets"]) > 1
    several_settings = bool(league["setting_keys"])
    header = [
        *(["data"] if several_data else []),
        *(["settings"] if several_settings else []),
        "balancer",
        "head",
        "seeds",
        "final ÷ baseline",
        "best ÷ baseline",
        "metric (prior)",
        "learned (final)",
        "learned (best)",
        "run time s",
    ]
    rows = []
    for group in league["groups"]:
        for name, head in group["heads"].items():
            metric = head["metric"]
            rows.append(
                [
                    *([str(group["data"])] if several_data else []),
                    *([_settings_label(group["settings"])] if several_settings else []),
                    str(group["balancer"]),
                    name,
                    str(head["n"]),
                    _pm(head["final_over_baseline"]),
                    _pm(head["best_over_baseline"]),
                    _metric_cell(name, metric, head["constant"]),
                    _pct(head["learned_final"]),
                    _pct(head["learned_best"]),
                    _pm(group["run_seconds"], "{:.1f}"),
                ]
            )
    return header, rows


def _metric_cell(head: str, metric: dict[str, Any], constant: Any) -> str:
    """``MAE 9.48 ± 0.30 bars (prior 11.75 ± 0.10)``: the metric's name as the verdict says it."""
    rule = METRIC_RULES.get(head)
    label, unit = (rule.label, rule.unit) if rule is not None else (metric["name"], "")
    return f"{label} {_pm(metric)}{unit} (prior {_pm(constant)})"


def league_markdown(league: dict[str, Any]) -> str:
    header, rows = league_rows(league)
    lines = [
        f"# League table ({league['runs']} finished runs)",
        "",
        "Validation losses ÷ the prior's (lower is better; a head has learned",
        "at ≤ 0.95 and below its initial loss), mean ± sd over seeds. n/a: not recorded.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    lines += [
        "",
        "Share of seeds on which every head learned:",
        "",
        "| data | settings | balancer | seeds | every head learned (final) | (best) |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {group['data']} | {_settings_label(group['settings'])} | {group['balancer']} | "
        f"{group['n']} | {_pct(group['every_head_learned_final'])} | "
        f"{_pct(group['every_head_learned_best'])} |"
        for group in league["groups"]
    ]
    return "\n".join(lines) + "\n"


def plot_league(league: dict[str, Any], path: Path) -> Path | None:
    """Final (bar, ± sd) and best (marker) loss ÷ baseline per group, one panel per head."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    groups = league["groups"]
    heads = list(dict.fromkeys(h for g in groups for h in g["heads"]))
    if not groups or not heads:
        return None
    labels = [_group_label(g, league) for g in groups]
    fig, axes = plt.subplots(
        len(heads), 1, figsize=(max(6.0, 0.6 * len(groups) + 2), 2.6 * len(heads)), squeeze=False
    )
    positions = list(range(len(groups)))
    for ax, head in zip(axes[:, 0], heads):
        final = [_stat(g["heads"].get(head, {}).get("final_over_baseline")) for g in groups]
        best = [_stat(g["heads"].get(head, {}).get("best_over_baseline")) for g in groups]
        ax.bar(
            positions,
            [m for m, _ in final],
            yerr=[s for _, s in final],
            color="tab:blue",
            alpha=0.7,
            label="final",
        )
        if any(not math.isnan(m) for m, _ in best):
            ax.plot(positions, [m for m, _ in best], "k^", label="best")
        ax.axhline(1.0, color="grey", linestyle=":", label="constant")
        ax.axhline(0.95, color="tab:green", linestyle="--", linewidth=0.8, label="learned (≤ 0.95)")
        ax.set_ylabel(f"{head}\nloss ÷ baseline")
        ax.set_xticks(positions)
        ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the bars
    fig.suptitle(f"moola league: {league['runs']} runs, mean ± sd over seeds")
    fig.tight_layout()
    atomic_write(path, lambda handle: fig.savefig(handle, dpi=100, format="png"))
    plt.close(fig)
    return path


def _stat(stat: dict[str, float | None] | None) -> tuple[float, float]:
    if stat is None or stat["mean"] is None:
        return math.nan, 0.0
    return float(stat["mean"]), float(stat["sd"] or 0.0)


def _group_label(group: dict[str, Any], league: dict[str, Any]) -> str:
    parts = [str(group["balancer"])]
    if league["setting_keys"]:
        parts.append(_settings_label(group["settings"]))
    if len(league["datasets"]) > 1:
        parts.append(Path(str(group["data"])).name)
    return "\n".join(parts)


def check_sweep_folder(directory: Path) -> None:
    """A sweep's folder holds its manifest (``sweep.json``, written before any run starts);
    anything else, a single run's folder above all, is refused before anything is written."""
    if not directory.is_dir():
        raise ConfigError(f"{directory} is not a folder; point moola league at a sweep's --out")
    if (directory / MANIFEST_NAME).is_file():
        return
    what = (
        f"a run folder (it holds {METRICS_NAME}), not a sweep"
        if (directory / METRICS_NAME).is_file()
        else f"not a sweep folder (no {MANIFEST_NAME})"
    )
    raise ConfigError(
        f"{directory} is {what}; moola league reads the --out folder of moola sweep, "
        "whose runs it ranks (a single run's verdict is in its metrics.json)"
    )


def write_league(directory: Path) -> dict[str, Any]:
    """Build the league from ``directory``'s finished runs and write league.json/.md/.png;
    a folder that is not a sweep's is refused and nothing is written."""
    check_sweep_folder(directory)
    league = build_league(load_runs(directory))
    atomic_write_json(directory / LEAGUE_JSON, league)
    atomic_write_text(directory / LEAGUE_MD, league_markdown(league))
    if plot_league(league, directory / LEAGUE_PNG) is None:
        (directory / LEAGUE_PNG).unlink(missing_ok=True)  # an old picture would not match
    return league
