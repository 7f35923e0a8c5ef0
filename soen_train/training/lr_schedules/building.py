"""Building a schedule from its config: parameter defaults, construction and validation."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from soen_train.registry import UnknownNameError, check_params
from soen_train.training.lr_schedules.base import (
    CONFIG_PATH,
    LR_SCHEDULES,
    LRSchedule,
)
from soen_train.training.lr_schedules.metric_driven import MetricDrivenSchedule


def schedule_parameters(schedule_type: str) -> dict[str, Any]:
    """Config params of a schedule type with their defaults (trainer-supplied args excluded)."""
    return LR_SCHEDULES.params(schedule_type)


def build_lr_schedule(
    schedule_type: str,
    params: Mapping[str, Any] | None = None,
    *,
    base_lr: float,
    steps_per_epoch: float,
    max_epochs: int,
    available_metrics: Iterable[str] | None = None,
) -> LRSchedule:
    """Construct schedule ``schedule_type`` with config ``params`` and the trainer's context.

    Unknown types or params raise errors listing the valid ones; metric-driven schedules
    need ``available_metrics`` (the metric names the trainer logs at validation end).
    """
    try:
        canonical = LR_SCHEDULES.canonical(str(schedule_type))
    except UnknownNameError as err:
        raise UnknownNameError(f"{CONFIG_PATH}.type: {err}") from None
    given = dict(params or {})
    check_params(f"{CONFIG_PATH} '{canonical}'", given, schedule_parameters(canonical))
    cls = LR_SCHEDULES.get(canonical)
    context: dict[str, Any] = {"base_lr": base_lr, "steps_per_epoch": steps_per_epoch, "max_epochs": max_epochs}
    if issubclass(cls, MetricDrivenSchedule):
        if available_metrics is None:
            raise ValueError(
                f"{CONFIG_PATH} '{canonical}' monitors a metric: pass the list of available metrics"
            )
        context["available_metrics"] = list(available_metrics)
    return cls(**context, **given)


def validate_lr_schedule(
    schedule_type: str,
    params: Mapping[str, Any] | None = None,
    available_metrics: Iterable[str] | None = None,
) -> None:
    """Check a scheduler config before training (type, param names and values, metric name)."""
    build_lr_schedule(
        schedule_type, params, base_lr=1e-3, steps_per_epoch=1, max_epochs=1,
        available_metrics=available_metrics,
    )


