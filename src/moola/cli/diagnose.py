"""``moola diagnose``: parse, probe each task's share of the trunk gradient, print the table."""

from __future__ import annotations

import argparse
import json
from typing import Any

from moola.cli.common import add_command, say


def add_parser(sub: Any) -> None:
    from moola.balancing.names import BALANCER_NAMES
    from moola.data.features import DEFAULT_FEATURE_SET, FEATURE_GROUPS, FEATURE_SETS
    from moola.diagnose import DiagnoseConfig

    defaults = DiagnoseConfig()
    balancers = ", ".join(sorted(BALANCER_NAMES))
    parser = add_command(
        sub, "diagnose", run, help="probe each task's share of the shared-trunk gradient"
    )
    parser.add_argument(
        "--balancer",
        default=defaults.balancer,
        help=f"loss balancer: {balancers} (default: {defaults.balancer})",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=defaults.seed,
        help="seed of the run, as for train: initialisation, split and batch order "
        f"(default: {defaults.seed})",
    )
    parser.add_argument(
        "--data", help="a data source as for train (default: synthetic, or the checkpoint's)"
    )
    parser.add_argument(
        "--features",
        help=f"feature set ({', '.join(FEATURE_SETS)}) or comma-separated groups of "
        f"{', '.join(FEATURE_GROUPS)} (default: {DEFAULT_FEATURE_SET}, or the checkpoint's)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=defaults.batch_size,
        help=f"windows in the probed batch (default: {defaults.batch_size})",
    )
    parser.add_argument(
        "--countdown-units",
        choices=["normalized", "bars"],
        help="countdown targets (default: normalized, or the checkpoint's)",
    )
    parser.add_argument(
        "--checkpoint", help="probe a trained model (and its data) instead of a fresh one"
    )
    parser.add_argument(
        "--device",
        default=defaults.device,
        help=f"cpu, cuda or cuda:N (default: {defaults.device})",
    )
    parser.add_argument("--json", action="store_true", help="print only the JSON result")


def run(args: argparse.Namespace) -> int:
    from moola.diagnose import DiagnoseConfig, diagnose
    from moola.report import diagnose_table_rows, print_table

    result = diagnose(
        DiagnoseConfig(
            balancer=args.balancer,
            seed=args.seed,
            data=args.data,
            batch_size=args.batch_size,
            countdown_units=args.countdown_units,
            device=args.device,
            checkpoint=args.checkpoint,
            features=args.features,
        )
    )
    if args.json:
        print(json.dumps(result))
        return 0
    header, rows = diagnose_table_rows(result)
    model = (
        "a fresh model" if result["checkpoint"] is None else f"checkpoint {result['checkpoint']}"
    )
    say("diagnose", f"{model} on data {result['data']} (its first training batch)")
    print_table(
        f"moola diagnose — {result['balancer']}, seed {result['seed']}, batch {result['batch_size']} "
        f"(countdown {result['countdown_units']}); spread {result['spread']:.2f}×\n"
        f"features {result['features']} ({len(result['feature_names'])}): "
        f"{', '.join(result['feature_names'])}",
        header,
        rows,
    )
    return 0
