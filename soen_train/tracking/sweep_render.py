"""Rendering a :class:`~soen_train.tracking.sweep_stats.SweepSummary`: the terminal tables,
``summary.csv``, ``failed_jobs.csv`` and the ``summary.png`` plot (mean with std error bars plus
every individual repeat)."""

from __future__ import annotations

import csv
import math
import textwrap
from pathlib import Path
from typing import List

import numpy as np
from rich.console import Console
from rich.table import Table
from rich.text import Text

from soen_train.tracking.sweep_jobs import STATUSES
from soen_train.tracking.sweep_stats import (
    UNKNOWN_OVERRIDES_LABEL,
    MetricStats,
    Setting,
    SweepSummary,
    setting_label,
)

_ARROWS = {"minimize": "↓", "maximize": "↑"}


# ---------------------------------------------------------------------------- output
def format_number(value: float) -> str:
    """Four significant digits (``nan`` for missing)."""
    return "nan" if not math.isfinite(value) else f"{value:.4g}"


def format_stats(stats: MetricStats) -> str:
    """``mean ± std (n=N)``; std omitted for a single value, non-finite values noted."""
    if stats.n == 0:
        text = "—"
    elif stats.n == 1:
        text = f"{format_number(stats.mean)} (n=1)"
    else:
        text = f"{format_number(stats.mean)} ± {format_number(stats.std)} (n={stats.n})"
    if stats.n_nonfinite:
        text += f" +{stats.n_nonfinite} non-finite"
    return text


def _jobs_text(setting: Setting) -> str:
    """``3`` or ``2 ok, 1 failed`` for the table."""
    done = setting.count("completed")
    others = [f"{setting.count(s)} {s}" for s in STATUSES[1:] if setting.count(s)]
    return f"{done} ok, " + ", ".join(others) if others else str(done)


def print_summary(summary: SweepSummary, console: Console) -> None:
    """The settings table (best first) and, if any, the table of jobs left out of it."""
    if summary.metrics:
        order = f"sorted by {summary.metrics[0]} ({summary.direction})"
    else:
        order = "no metrics (no completed job)"
    # Text() everywhere user data appears: overrides like `x=[a,b]` must not be read as markup.
    wrap = not console.is_terminal  # a pipe keeps whole lines; a terminal wraps at its width
    console.print(
        Text(
            f"{summary.multirun_dir}: {len(summary.settings)} settings, {order}; "
            "mean ± std (n) over all repeats of all seeds"
        ),
        soft_wrap=wrap,
    )
    if summary.common_overrides:
        console.print(
            Text("common overrides: " + " ".join(summary.common_overrides)), soft_wrap=wrap
        )
    table = _settings_table(summary)
    if console.is_terminal and _min_width(console, table) > console.width:
        _print_settings_stacked(summary, console)  # narrow terminal: one block per setting
    else:
        _print_fitting(console, table)
    if summary.unsuccessful:
        failed = Table(title=f"{len(summary.unsuccessful)} job(s) not in the statistics")
        failed.add_column("job", justify="right")
        failed.add_column("status")
        failed.add_column("overrides", overflow="fold")
        failed.add_column("reason", overflow="fold")
        for job in summary.unsuccessful:
            failed.add_row(
                Text(job.name),
                job.status,
                Text(summary.job_label(job)),
                Text(job.error or ""),
            )
        _print_fitting(console, failed)


#: Narrowest the setting column may get before the table is printed one setting per block.
MIN_SETTING_WIDTH = 24


def _settings_table(summary: SweepSummary) -> Table:
    table = Table()
    table.add_column("#", justify="right")
    table.add_column("setting", overflow="fold", min_width=MIN_SETTING_WIDTH)
    table.add_column("jobs", justify="right", no_wrap=True)
    for metric in summary.metrics:
        arrow = _ARROWS.get(summary.directions[metric], "")
        table.add_column(Text(f"{metric} {arrow}".rstrip()), justify="right", no_wrap=True)
    for rank, setting in enumerate(summary.settings, start=1):
        cells = [format_stats(setting.stats[m]) for m in summary.metrics]
        table.add_row(str(rank), Text(setting.label), _jobs_text(setting), *cells)
    return table


def _min_width(console: Console, table: Table) -> int:
    """Columns the table needs with its setting column at MIN_SETTING_WIDTH and every other
    column (numbers, never wrapped) at its full width, borders included."""
    total = 1
    for column in table.columns:
        if column.header == "setting":
            total += MIN_SETTING_WIDTH + 3
            continue
        cells = [str(column.header), *(str(c) for c in column.cells)]
        total += max(console.measure(Text(c)).maximum for c in cells) + 3
    return total


def _print_settings_stacked(summary: SweepSummary, console: Console) -> None:
    """Each setting as a wrapped title line and one indented line per metric: every setting and
    metric stays readable at any width (nothing abbreviated, nothing dropped)."""
    width = max(40, console.width)
    for rank, setting in enumerate(summary.settings, start=1):
        title = f"{rank}. {setting.label}  [{_jobs_text(setting)} job(s)]"
        console.print(Text(textwrap.fill(title, width=width, subsequent_indent="   ")))
        for metric in summary.metrics:
            arrow = _ARROWS.get(summary.directions[metric], "")
            line = f"{metric} {arrow}".rstrip() + ": " + format_stats(setting.stats[metric])
            console.print(
                Text(
                    textwrap.fill(
                        line, width=width, initial_indent="     ", subsequent_indent="       "
                    )
                )
            )


def _print_fitting(console: Console, table: Table) -> None:
    """Print a table; when not on a terminal, as wide as it needs so numbers never wrap."""
    if console.is_terminal:
        console.print(table)
        return
    needed = console.measure(table, options=console.options.update_width(10_000)).maximum
    previous = console.width
    console.width = max(needed, previous)  # a pipe or file has no width limit worth wrapping at
    try:
        console.print(table)
    finally:
        console.width = previous


def write_summary_csv(summary: SweepSummary, path: Path) -> None:
    """One row per setting, best first: rank, setting (label), overrides (all non-seed ones),
    job counts, job names and per metric ``<m>_mean``, ``<m>_std``, ``<m>_n``, ``<m>_nonfinite``."""
    header = ["rank", "setting", "overrides"]
    header += [f"jobs_{status}" for status in STATUSES] + ["jobs"]
    for metric in summary.metrics:
        header += [f"{metric}_mean", f"{metric}_std", f"{metric}_n", f"{metric}_nonfinite"]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for rank, setting in enumerate(summary.settings, start=1):
            row: List[object] = [
                rank,
                setting.label,
                " ".join(setting.overrides),
                *(setting.count(status) for status in STATUSES),
                ";".join(j.name for j in setting.jobs),
            ]
            for metric in summary.metrics:
                stats = setting.stats[metric]
                row += [
                    repr(stats.mean) if stats.n else "",
                    repr(stats.std) if stats.n > 1 else "",
                    stats.n,
                    stats.n_nonfinite,
                ]
            writer.writerow(row)


def write_failed_csv(summary: SweepSummary, path: Path) -> None:
    """Failed, pruned and unfinished jobs: job, status, setting (its label in summary.csv),
    overrides (all, seed included), reason; header only when there are none."""
    setting_of = {id(job): s.label for s in summary.settings for job in s.jobs}
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["job", "status", "setting", "overrides", "reason"])
        for job in summary.unsuccessful:
            label = setting_of.get(id(job), UNKNOWN_OVERRIDES_LABEL)
            writer.writerow(
                [job.name, job.status, label, setting_label(job.overrides), job.error or ""]
            )


#: Characters per line of a setting label in the plot before it wraps.
PLOT_LABEL_CHARS = 48


def write_plot(summary: SweepSummary, path: Path) -> None:
    """PNG, one panel per metric: mean ± std error bars per setting, every repeat as a dot."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ranked = [
        (rank, s)
        for rank, s in enumerate(summary.settings, start=1)
        if any(st.n for st in s.stats.values())
    ]
    settings = [s for _, s in ranked]
    n_panels = len(summary.metrics)
    ncols = min(3, n_panels)
    nrows = math.ceil(n_panels / ncols)
    # Numbered like the table; "$" escaped so matplotlib does not read it as math text.
    # Long settings are wrapped over several lines, never cut: the label is what tells trials apart.
    labels = [
        textwrap.fill(
            f"{rank}. {s.label}", width=PLOT_LABEL_CHARS, subsequent_indent="   "
        ).replace("$", r"\$")
        for rank, s in ranked
    ]
    label_lines = max(t.count("\n") + 1 for t in labels)
    label_inches = 1.0 + 0.075 * min(
        PLOT_LABEL_CHARS, max(len(ln) for t in labels for ln in t.split("\n"))
    )
    row_inches = 0.25 + 0.22 * label_lines
    fig = Figure(figsize=(label_inches + 3.6 * ncols, (1.8 + row_inches * len(settings)) * nrows))
    FigureCanvasAgg(fig)
    positions = np.arange(len(settings))
    for index, metric in enumerate(summary.metrics):
        ax = fig.add_subplot(nrows, ncols, index + 1)
        means = np.array([s.stats[metric].mean for s in settings])
        stds = np.nan_to_num(np.array([s.stats[metric].std for s in settings]))
        ax.errorbar(
            means,
            positions,
            xerr=stds,
            fmt="o",
            color="tab:blue",
            capsize=4,
            label="mean ± std",
            zorder=3,
        )
        for y, setting in zip(positions, settings, strict=True):
            values = setting.stats[metric].values
            jitter = np.linspace(-0.15, 0.15, len(values)) if len(values) > 1 else np.zeros(1)
            ax.scatter(
                values,
                y + jitter[: len(values)],
                s=14,
                color="tab:orange",
                alpha=0.7,
                label="repeats" if y == 0 else None,
                zorder=2,
            )
        ax.set_yticks(positions)
        ax.set_yticklabels(labels if index % ncols == 0 else [])
        ax.invert_yaxis()  # best setting on top
        arrow = _ARROWS.get(summary.directions[metric])
        caption = f"{metric} ({arrow} better)" if arrow else metric
        ax.set_title(caption.replace("$", r"\$"), fontsize=10)
        ax.grid(axis="x", alpha=0.3)
        if index == 0:
            ax.legend(fontsize=8, loc="best")
    title = f"{summary.multirun_dir.name}: per-setting mean ± std over repeats"
    fig.suptitle(title.replace("$", r"\$"), fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
