"""``moola label``: cut bar series into labelled windows and write them as parquet."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
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
    import numpy as np

    from moola.data import LABEL_NAMES, LabelRule, read_bars
    from moola.data.files import WRITE_GROUP_ROWS, save_parquet_batches
    from moola.data.labeling import label_batches
    from moola.outfile import check_out_file

    check_out_file(args.out, ".parquet")  # before labelling: a .csv name would hold parquet
    rule = LabelRule(window=args.window, stride=args.stride)
    pooled = len(args.series) > 1  # a series id per file beside start_bar (moola.data.pooled)
    counts = np.zeros(len(LABEL_NAMES), dtype=np.int64)

    def batches() -> Iterator[Any]:
        # file by file, a few thousand windows at a time: at any stride, one file's bars and
        # one batch of windows are all that is held
        for i, source in enumerate(args.series):
            bars = read_bars(source, window=rule.window)
            for batch in label_batches(
                bars, rule, series=i if pooled else None, rows=WRITE_GROUP_ROWS
            ):
                counts[:] += np.bincount(batch.label, minlength=len(LABEL_NAMES))
                yield batch

    written = save_parquet_batches(args.out, batches())
    summary = ", ".join(f"{name} {int(counts[i])}" for i, name in enumerate(LABEL_NAMES))
    print(f"moola label: wrote {written} windows to {args.out} ({summary})")
    return 0
