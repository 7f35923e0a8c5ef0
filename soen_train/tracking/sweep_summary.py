"""``soen-train-summary``: aggregate a Hydra multirun over seeds and repeats.

A multirun directory holds one sub-directory per job (``0/``, ``1/``, ...), each with
``.hydra/overrides.yaml`` (the job's command-line overrides) and ``soen_result.json`` (written
by the trainer: objective, status and per-repeat metrics). Jobs whose overrides differ only in
seed-like overrides (``seed=...``, ``training.seed=...``) are one *setting*; every repeat of
every seed of a setting is pooled, and each setting gets mean ± sample std (ddof=1) and n per
metric. Settings are named by the overrides that differ between them; the ones all jobs share
are printed once. The command prints a table best-first, writes ``summary.csv``,
``failed_jobs.csv`` and a ``summary.png`` plot (mean with std error bars plus every
individual repeat).

This module is only the command line; the work is split by job: reading the job folders
(:mod:`~soen_train.tracking.sweep_jobs`), aggregating per setting
(:mod:`~soen_train.tracking.sweep_stats`) and tables/CSV/plot
(:mod:`~soen_train.tracking.sweep_render`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

from rich.console import Console
from rich.text import Text

from soen_train.tracking.sweep_jobs import DIRECTIONS, SweepSummaryError
from soen_train.tracking.sweep_render import (
    print_summary,
    write_failed_csv,
    write_plot,
    write_summary_csv,
)
from soen_train.tracking.sweep_report import format_sweep_report
from soen_train.tracking.sweep_stats import summarise


# ---------------------------------------------------------------------------- command line
def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``soen-train-summary``."""
    parser = argparse.ArgumentParser(
        prog="soen-train-summary",
        description="Summarise a Hydra multirun of soen-train: mean ± std per setting over "
        "all repeats of all seeds, as a table, summary.csv and summary.png.",
    )
    parser.add_argument(
        "multirun_dir", type=Path, help="the multirun directory (holds 0/, 1/, ...)"
    )
    parser.add_argument(
        "--metric",
        action="append",
        dest="metrics",
        metavar="NAME",
        help="metric to report (repeatable; the first orders the settings). "
        "Default: the objective metric, then every other metric present",
    )
    parser.add_argument(
        "--direction",
        choices=DIRECTIONS,
        help="ordering direction for the first metric (default: the recorded one for the "
        "objective metric, else minimise for losses/errors and maximise otherwise)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="folder for summary.csv, failed_jobs.csv and summary.png (default: the multirun dir)",
    )
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``soen-train-summary``; returns 0, 1 (no completed job) or 2 (bad input)."""
    args = build_parser().parse_args(argv)
    console = Console()
    try:
        summary = summarise(args.multirun_dir, args.metrics, args.direction)
    except SweepSummaryError as exc:
        print(f"soen-train-summary: error: {exc}", file=sys.stderr)
        return 2
    out_dir: Path = args.out or args.multirun_dir
    print_summary(summary, console)
    has_results = any(st.n for s in summary.settings for st in s.stats.values())
    written = [out_dir / "summary.csv", out_dir / "failed_jobs.csv"]
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_summary_csv(summary, written[0])
        write_failed_csv(summary, written[1])
        plot = out_dir / "summary.png"
        if has_results:
            write_plot(summary, plot)
            written.append(plot)
        elif plot.exists():
            plot.unlink()  # a plot from an earlier summary would contradict the new CSV files
    except OSError as exc:
        print(f"soen-train-summary: error: cannot write to '{out_dir}': {exc}", file=sys.stderr)
        return 2
    console.print(Text("wrote " + ", ".join(str(p) for p in written)), soft_wrap=True)
    print(format_sweep_report(args.multirun_dir))
    if not has_results:
        print(
            f"soen-train-summary: no completed job with metrics in '{args.multirun_dir}' "
            f"({len(summary.unsuccessful)} failed, pruned or unfinished); no plot written",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
