"""Aggregating a multirun's jobs per setting: mean ± sample std (ddof=1) and n per metric.

Jobs whose overrides differ only in seed-like overrides (``seed=...``, ``training.seed=...``)
are one *setting*; every repeat of every seed of a setting is pooled. Settings are named by the
overrides that differ between them; the ones all jobs share are kept apart as common overrides.
:func:`summarise` returns plain data (:class:`SweepSummary`); printing and files are in
:mod:`soen_train.tracking.sweep_render`.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from soen_train.tracking.metric_direction import metric_direction
from soen_train.tracking.sweep_jobs import (
    DIRECTIONS,
    JobResult,
    SweepSummaryError,
    find_job_dirs,
    load_job,
)

NO_OVERRIDES_LABEL = "(no overrides)"
COMMON_ONLY_LABEL = "(common overrides only)"
UNKNOWN_OVERRIDES_LABEL = "(overrides unknown)"


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


# ---------------------------------------------------------------------------- statistics
def metric_stats(values: Sequence[float]) -> MetricStats:
    """Mean and sample std (ddof=1) over the finite values; NaN/inf values are only counted."""
    finite = [v for v in values if math.isfinite(v)]
    n = len(finite)
    mean = float(np.mean(finite)) if n else float("nan")
    std = float(np.std(finite, ddof=1)) if n > 1 else float("nan")
    return MetricStats(mean=mean, std=std, n=n, n_nonfinite=len(values) - n, values=finite)


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
