"""``moola label``: cut bar series into labelled windows and write them as parquet."""

from __future__ import annotations

import argparse
from typing import Any

from moola.cli.common import add_command


def add_parser(sub: Any) -> None:
    from moola.data.labeling import LabelRule

    rule = LabelRule()
    parser = add_command(
        sub, "label", run, help="cut a continuous OHLC series (CSV/parquet) into labelled windows"
    )
    parser.add_argument(
        "series",
        nargs="+",
        help="CSV or parquet with open, high, low, close columns (several: one pooled dataset)",
    )
    parser.add_argument("--out", required=True, help="output .parquet (original schema)")
    parser.add_argument(
        "--stride",
        type=int,
        default=rule.stride,
        help=f"bars between window starts (default: {rule.stride})",
    )
    parser.add_argument(
        "--window", type=int, default=rule.window, help=f"bars per window (default: {rule.window})"
    )


def run(args: argparse.Namespace) -> int:
    from moola.data import LABEL_NAMES, LabelRule, label_file, save_parquet
    from moola.outfile import check_out_file

    check_out_file(args.out, ".parquet")  # before labelling: a .csv name would hold parquet
    rule = LabelRule(window=args.window, stride=args.stride)
    if len(args.series) == 1:
        windows = label_file(args.series[0], rule)
    else:  # pooled series: a series id beside start_bar (moola.data.sources.label_files)
        from moola.data.sources import label_files

        windows = label_files(args.series, rule)
    save_parquet(windows, args.out)
    counts = ", ".join(
        f"{name} {int((windows.label == i).sum())}" for i, name in enumerate(LABEL_NAMES)
    )
    print(f"moola label: wrote {len(windows)} windows to {args.out} ({counts})")
    return 0
