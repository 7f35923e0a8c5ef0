"""``soen-train-summary``: aggregate a Hydra multirun over seeds and repeats.

A multirun directory holds one sub-directory per job (``0/``, ``1/``, ...), each with
``.hydra/overrides.yaml`` (the job's command-line overrides) and ``soen_result.json`` (written
by the trainer: objective, status and per-repeat metrics). Jobs whose overrides differ only in
seed-like overrides (``seed=...``, ``training.seed=...``) are one *setting*; every repeat of
every seed of a setting is pooled, and each setting gets mean ± sample std (ddof=1) and n per
metric. Settings are named by the overrides that differ between them; the ones all jobs share
are printed once. The command prints a table best-first, writes ``summary.csv``, ``failed_jobs.csv`` and a
``summary.png`` plot (mean with std error bars plus every individual repeat).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import textwrap
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import yaml
from rich.console import Console
from rich.table import Table
from rich.text import Text

from soen_train.tracking.metric_direction import metric_direction

RESULT_FILE = "soen_result.json"
OVERRIDES_FILE = Path(".hydra") / "overrides.yaml"
# "running" is what the trainer writes between repeats: the job is still going or was killed.
STATUSES = ("completed", "failed", "pruned", "running")
DIRECTIONS = ("minimize", "maximize")
NO_OVERRIDES_LABEL = "(no overrides)"
COMMON_ONLY_LABEL = "(common overrides only)"
UNKNOWN_OVERRIDES_LABEL = "(overrides unknown)"


class SweepSummaryError(ValueError):
    """The given directory cannot be summarised (not a multirun dir, unknown metric, ...)."""


@dataclass
class JobResult:
    """One Hydra job: its overrides and what its ``soen_result.json`` says."""

    name: str
    path: Path
    overrides: Optional[List[str]]  # None when they could not be read
    status: str  # completed | failed | pruned | running
    error: Optional[str] = None
    objective_metric: Optional[str] = None
    direction: Optional[str] = None
    repeats: List[Dict[str, float]] = field(default_factory=list)  # one metrics dict per repeat


@dataclass
class MetricStats:
    """Mean, sample std (ddof=1; NaN for n < 2) and count of one metric's finite values."""

    mean: float
    std: float
    n: int
    n_nonfinite: int
    values: List[float]


@dataclass
class Setting:
    """Jobs sharing every non-seed override, with their repeats pooled per metric."""

    label: str  # the overrides that set it apart from the other settings
    overrides: Tuple[str, ...]  # all its non-seed overrides
    jobs: List[JobResult] = field(default_factory=list)
    stats: Dict[str, MetricStats] = field(default_factory=dict)

    @property
    def completed(self) -> List[JobResult]:
        """Jobs whose results enter the statistics."""
        return [j for j in self.jobs if j.status == "completed"]

    def count(self, status: str) -> int:
        """How many of this setting's jobs have the given status."""
        return sum(1 for j in self.jobs if j.status == status)


@dataclass
class SweepSummary:
    """Everything the command prints and writes, as plain data."""

    multirun_dir: Path
    metrics: List[str]  # the first one orders the settings
    directions: Dict[str, str]  # metric -> minimize | maximize
    settings: List[Setting]  # best first (settings without completed jobs last)
    common_overrides: Tuple[str, ...]  # non-seed overrides every setting has (when > 1 setting)
    unsuccessful: List[JobResult]  # failed, pruned and unfinished jobs, in job order

    def job_label(self, job: JobResult) -> str:
        """A job's overrides (seed included) minus the common ones."""
        if job.overrides is None:
            return UNKNOWN_OVERRIDES_LABEL
        return " ".join(without(job.overrides, self.common_overrides)) or COMMON_ONLY_LABEL

    @property
    def direction(self) -> str:
        """Direction of the ordering metric."""
        return self.directions[self.metrics[0]] if self.metrics else "minimize"


# ---------------------------------------------------------------------------- overrides
def override_key(override: str) -> str:
    """The config key of a Hydra override string (``+a.b=1`` -> ``a.b``, ``~a`` -> ``a``)."""
    key = override.split("=", 1)[0].strip()
    return key.lstrip("+~")


def is_seed_override(override: str) -> bool:
    """True for overrides that only change a random seed (key ``seed`` or ``<path>.seed``)."""
    return override_key(override).split(".")[-1] == "seed"


def setting_overrides(overrides: Sequence[str]) -> Tuple[str, ...]:
    """The overrides that define a setting: all but the seed-like ones, in their given order."""
    return tuple(o for o in overrides if not is_seed_override(o))


def setting_label(overrides: Optional[Sequence[str]]) -> str:
    """Human (and shell) readable text for overrides: joined by spaces."""
    if overrides is None:
        return UNKNOWN_OVERRIDES_LABEL
    return " ".join(overrides) if overrides else NO_OVERRIDES_LABEL


def common_overrides(settings: Sequence["Setting"]) -> Tuple[str, ...]:
    """Overrides shared by every setting (in the first setting's order); none for one setting."""
    if len(settings) < 2:
        return ()
    shared = set(settings[0].overrides).intersection(*(s.overrides for s in settings[1:]))
    return tuple(o for o in settings[0].overrides if o in shared)


def without(overrides: Sequence[str], common: Sequence[str]) -> Tuple[str, ...]:
    """``overrides`` minus the ``common`` ones, order kept."""
    return tuple(o for o in overrides if o not in set(common))


# ---------------------------------------------------------------------------- reading jobs
def find_job_dirs(multirun_dir: Path) -> List[Path]:
    """Job directories of a multirun dir, numerically ordered; a clear error otherwise."""
    if not multirun_dir.exists():
        raise SweepSummaryError(f"multirun directory '{multirun_dir}' does not exist")
    if not multirun_dir.is_dir():
        raise SweepSummaryError(f"'{multirun_dir}' is a file, not a Hydra multirun directory")
    jobs = [
        d
        for d in multirun_dir.iterdir()
        if d.is_dir() and ((d / ".hydra").is_dir() or (d / RESULT_FILE).is_file())
    ]
    if jobs:
        return sorted(
            jobs, key=lambda d: (0, int(d.name), "") if d.name.isdigit() else (1, 0, d.name)
        )
    if (multirun_dir / ".hydra").is_dir() or (multirun_dir / RESULT_FILE).is_file():
        raise SweepSummaryError(
            f"'{multirun_dir}' is a single Hydra job directory, not a multirun directory; "
            "pass the multirun directory that contains the numbered job directories (0/, 1/, ...)"
        )
    nested = sorted(
        str(d.relative_to(multirun_dir))
        for d in multirun_dir.glob("*/*")
        if d.is_dir() and ((d / ".hydra").is_dir() or (d / RESULT_FILE).is_file())
    )
    hint = ""
    if nested:
        parents = sorted({str(Path(n).parent) for n in nested})
        hint = f"; job directories were found one level down, in: {', '.join(parents[:5])}"
    raise SweepSummaryError(
        f"'{multirun_dir}' is not a Hydra multirun directory: expected job sub-directories "
        f"(0/, 1/, ...) each holding {OVERRIDES_FILE.as_posix()} and {RESULT_FILE}{hint}"
    )


def _read_overrides(job_dir: Path) -> List[str]:
    """The job's override strings from ``.hydra/overrides.yaml``, else from the result file."""
    path = job_dir / OVERRIDES_FILE
    if not path.is_file():
        return _overrides_from_result(job_dir)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{OVERRIDES_FILE.as_posix()} is not valid YAML: {exc}") from exc
    if data is None:
        return []
    if not isinstance(data, list) or not all(isinstance(o, str) for o in data):
        raise ValueError(
            f"{OVERRIDES_FILE.as_posix()} must be a YAML list of strings, got {data!r}"
        )
    return data


def _overrides_from_result(job_dir: Path) -> List[str]:
    """The ``overrides`` list the trainer also records in ``soen_result.json`` (fallback)."""
    missing = ValueError(f"no {OVERRIDES_FILE.as_posix()} (and no overrides in {RESULT_FILE})")
    try:
        data = json.loads((job_dir / RESULT_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        raise missing from None
    overrides = data.get("overrides") if isinstance(data, dict) else None
    if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
        raise missing
    return overrides


def _number(value: object, where: str) -> Optional[float]:
    """A metric value as float (None stays None); a clear error for anything else."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{where} must be a number, got {value!r}")
    return float(value)


def _parse_result(data: object) -> Dict[str, object]:
    """Validated fields of a ``soen_result.json`` document."""
    if not isinstance(data, dict):
        raise ValueError(f"{RESULT_FILE} must hold a JSON object, got {type(data).__name__}")
    status = data.get("status", "completed")
    if status not in STATUSES:
        raise ValueError(
            f"{RESULT_FILE}: status must be one of {', '.join(STATUSES)}, got {status!r}"
        )
    direction = data.get("direction")
    if direction is not None and direction not in DIRECTIONS:
        raise ValueError(
            f"{RESULT_FILE}: direction must be 'minimize' or 'maximize', got {direction!r}"
        )
    metric = data.get("objective_metric")
    if metric is not None and not isinstance(metric, str):
        raise ValueError(f"{RESULT_FILE}: objective_metric must be a string, got {metric!r}")
    objective = _number(data.get("objective"), f"{RESULT_FILE}: objective")
    raw_repeats = data.get("repeats") or []
    if not isinstance(raw_repeats, list):
        raise ValueError(f"{RESULT_FILE}: repeats must be a list, got {raw_repeats!r}")
    repeats: List[Dict[str, float]] = []
    for i, rep in enumerate(raw_repeats):
        metrics = rep.get("metrics") if isinstance(rep, dict) else None
        if not isinstance(metrics, dict):
            raise ValueError(f"{RESULT_FILE}: repeats[{i}] needs a 'metrics' object, got {rep!r}")
        values = {
            str(name): _number(val, f"{RESULT_FILE}: repeats[{i}].metrics.{name}")
            for name, val in metrics.items()
        }
        repeats.append({k: v for k, v in values.items() if v is not None})
    if not repeats and objective is not None and metric is not None:
        # A result without per-repeat figures still has its objective: count it as one sample.
        repeats = [{metric: objective}]
    error = data.get("error")
    return {
        "status": status,
        "error": None if error is None else str(error),
        "objective_metric": metric,
        "direction": direction,
        "repeats": repeats,
    }


def load_job(job_dir: Path) -> JobResult:
    """Read one job directory; problems make it a failed job with the reason, never an abort."""
    job = JobResult(name=job_dir.name, path=job_dir, overrides=None, status="failed")
    try:
        job.overrides = _read_overrides(job_dir)
    except ValueError as exc:
        job.error = str(exc)
        return job
    result_path = job_dir / RESULT_FILE
    if not result_path.is_file():
        job.error = f"no {RESULT_FILE} (the job crashed before finishing, or is still running)"
        return job
    try:
        fields = _parse_result(json.loads(result_path.read_text()))
    except json.JSONDecodeError as exc:
        job.error = f"{RESULT_FILE} is not valid JSON: {exc}"
        return job
    except ValueError as exc:
        job.error = str(exc)
        return job
    job.status = str(fields["status"])
    job.error = fields["error"]  # type: ignore[assignment]
    job.objective_metric = fields["objective_metric"]  # type: ignore[assignment]
    job.direction = fields["direction"]  # type: ignore[assignment]
    job.repeats = fields["repeats"]  # type: ignore[assignment]
    if job.status == "completed" and not job.repeats:
        job.status, job.error = "failed", f"{RESULT_FILE} reports no metrics and no objective"
    if job.status == "running":
        job.error = (
            f"unfinished: still running, or stopped without a final status "
            f"({len(job.repeats)} repeat(s) recorded)"
        )
    if job.status == "failed" and not job.error:
        job.error = f"{RESULT_FILE} reports status 'failed' without a message"
    return job


# ---------------------------------------------------------------------------- statistics
def metric_stats(values: Sequence[float]) -> MetricStats:
    """Mean and sample std (ddof=1) over the finite values; NaN/inf values are only counted."""
    finite = [v for v in values if math.isfinite(v)]
    n = len(finite)
    mean = float(np.mean(finite)) if n else float("nan")
    std = float(np.std(finite, ddof=1)) if n > 1 else float("nan")
    return MetricStats(mean=mean, std=std, n=n, n_nonfinite=len(values) - n, values=finite)


_ARROWS = {"minimize": "↓", "maximize": "↑"}


def infer_direction(metric: str) -> str:
    """A metric's direction by the shared rule; ``none`` for bookkeeping numbers."""
    return metric_direction(metric) or "none"


def group_settings(jobs: Sequence[JobResult]) -> List[Setting]:
    """Jobs grouped by their non-seed overrides (order-insensitive), in first-seen order.

    Jobs whose overrides could not be read belong to no setting (they are failed jobs).
    """
    settings: Dict[Tuple[str, ...], Setting] = {}
    for job in jobs:
        if job.overrides is None:
            continue
        kept = setting_overrides(job.overrides)
        key = tuple(sorted(kept))
        if key not in settings:
            settings[key] = Setting(label=setting_label(kept), overrides=kept)
        settings[key].jobs.append(job)
    grouped = list(settings.values())
    common = common_overrides(grouped)
    if common:  # name each setting by what sets it apart
        for setting in grouped:
            setting.label = " ".join(without(setting.overrides, common)) or COMMON_ONLY_LABEL
    return grouped


def summarise(
    multirun_dir: Path,
    metrics: Optional[Sequence[str]] = None,
    direction: Optional[str] = None,
) -> SweepSummary:
    """Read every job of a multirun dir and aggregate it per setting (no printing or files).

    ``metrics``: the metrics to report (the first one orders the settings); default: the
    objective metric followed by every other metric present. ``direction`` overrides the
    ordering direction; by default it is the recorded one for the objective metric and a
    name-based guess (losses minimise) for others.
    """
    jobs = [load_job(d) for d in find_job_dirs(multirun_dir)]
    completed = [j for j in jobs if j.status == "completed"]
    present = sorted({name for job in completed for rep in job.repeats for name in rep})
    objective_counts = Counter(j.objective_metric for j in completed if j.objective_metric)
    objective = objective_counts.most_common(1)[0][0] if objective_counts else None
    if metrics:
        unknown = [m for m in metrics if m not in present]
        if unknown and completed:
            raise SweepSummaryError(
                f"metric(s) {', '.join(repr(m) for m in unknown)} not found in any completed job "
                f"of '{multirun_dir}'; available: {', '.join(present) or '(none)'}"
            )
        chosen = list(dict.fromkeys(metrics))
    else:
        first = [objective] if objective in present else []
        chosen = first + [m for m in present if m not in first]
    if direction is not None and direction not in DIRECTIONS:
        raise SweepSummaryError(f"direction must be 'minimize' or 'maximize', got {direction!r}")
    order_metric = chosen[0] if chosen else None
    directions: Dict[str, str] = {}
    for metric in chosen:
        recorded = Counter(
            j.direction for j in completed if j.direction and j.objective_metric == metric
        )
        directions[metric] = recorded.most_common(1)[0][0] if recorded else infer_direction(metric)
    if direction is not None and order_metric is not None:
        directions[order_metric] = direction
    direction = directions.get(order_metric, "minimize") if order_metric else "minimize"

    settings = group_settings(jobs)
    for setting in settings:
        for metric in chosen:
            samples = [
                rep[metric] for job in setting.completed for rep in job.repeats if metric in rep
            ]
            setting.stats[metric] = metric_stats(samples)
    sign = 1.0 if direction == "minimize" else -1.0

    def rank_key(setting: Setting) -> Tuple[int, float, str]:
        stats = setting.stats.get(order_metric) if order_metric else None
        if stats is None or stats.n == 0:
            return (1, 0.0, setting.label)
        return (0, sign * stats.mean, setting.label)

    settings.sort(key=rank_key)
    unsuccessful = [j for j in jobs if j.status != "completed"]
    common = common_overrides(settings)
    return SweepSummary(multirun_dir, chosen, directions, settings, common, unsuccessful)


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
            console.print(Text(textwrap.fill(line, width=width, initial_indent="     ",
                                             subsequent_indent="       ")))


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
        textwrap.fill(f"{rank}. {s.label}", width=PLOT_LABEL_CHARS, subsequent_indent="   ")
        .replace("$", r"\$")
        for rank, s in ranked
    ]
    label_lines = max(t.count("\n") + 1 for t in labels)
    label_inches = 1.0 + 0.075 * min(PLOT_LABEL_CHARS, max(len(ln) for t in labels for ln in t.split("\n")))
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
    from soen_train.tracking.sweep_report import format_sweep_report

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
