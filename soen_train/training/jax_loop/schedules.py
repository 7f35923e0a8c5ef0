"""The schedules of a JAX run: LR per optimiser step, loss weights, pooling scale and sequence length.

Built from the same config sections and objects as the torch callbacks
(``callbacks.lr_scheduler``, ``callbacks.loss_weight_schedulers``,
``callbacks.time_pooling_scale_scheduler``, ``callbacks.seq_len_scheduler``); the epoch ramps
are ``loop_policy.epoch_schedules.EpochRamp`` (the torch callbacks' rule).
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Tuple

from soen_train.jax.errors import JaxUnsupportedError
from soen_train.loop_policy.epoch_schedules import EpochRamp

from .loader_batches import batch_limit


class JaxSchedules:
    """Every schedule of one JAX repeat, as pure functions of the step and the epoch.

    Args:
        cfg: the job's ``SOENTrainConfig``.
        loss: the run's ``JaxWeightedLoss`` (term keys and base weights).
        train_batches_total: batches per epoch of the training loader.
        accumulate: batches per optimiser step.
        base_scale: the configured time-pooling scale (used without a scale schedule).
    """

    def __init__(self, cfg: Any, loss: Any, train_batches_total: int, accumulate: int,
                 base_scale: float) -> None:
        from soen_train.training.loss_weight_schedules import LossWeightSchedule
        from soen_train.training.lr_schedules import build_lr_schedule
        from soen_train.training.trainer_factory import validation_metric_names

        t = cfg.training
        self.max_epochs = int(t.max_epochs)
        self.loss = loss
        self.base_scale = base_scale
        self.train_limit = batch_limit(t.limit_train_batches, train_batches_total)
        batches = self.train_limit if self.train_limit is not None else train_batches_total
        self.steps_per_epoch = max(1, math.ceil(batches / accumulate))
        params = dict(cfg.callbacks.lr_scheduler or {"type": "constant"})
        kind = params.pop("type", "constant")
        self.lr = build_lr_schedule(
            kind, params, base_lr=float(t.optimizer.lr), steps_per_epoch=self.steps_per_epoch,
            max_epochs=self.max_epochs, available_metrics=validation_metric_names(cfg),
        )
        self.weights: List[Tuple[str, Any]] = []
        for index, entry in enumerate(cfg.callbacks.loss_weight_schedulers or []):
            schedule = LossWeightSchedule.from_config(entry, index)
            key = loss.resolve_key(schedule.loss_name)
            if key in [k for k, _ in self.weights]:
                raise ValueError(
                    f"callbacks.loss_weight_schedulers[{index}]: loss '{key}' already has a "
                    "schedule"
                )
            self.weights.append((key, schedule))
        self.scale = _scale_ramp(cfg)
        self.seq_len = _seq_len_ramp(cfg)

    def scale_at(self, epoch: int) -> float:
        """Pooling scale of an epoch (the ramp, or the configured scale)."""
        if self.scale is None:
            return self.base_scale
        return self.scale.value_at(epoch, self.max_epochs)

    def seq_len_at(self, epoch: int) -> Optional[int]:
        """Sequence length of an epoch (None without a sequence-length schedule)."""
        return None if self.seq_len is None else self.seq_len.length_at(epoch, self.max_epochs)

    def loss_weights(self, global_step: int, epoch: int) -> Dict[str, float]:
        """Weight of every loss term at this optimiser step and epoch."""
        weights = dict(self.loss.weights)
        for key, schedule in self.weights:
            weights[key] = schedule.weight_at(global_step, epoch, self.steps_per_epoch,
                                              self.max_epochs)
        return weights


def _scale_ramp(cfg: Any) -> Optional[EpochRamp]:
    """The pooling-scale ramp of ``callbacks.time_pooling_scale_scheduler`` (checked like torch's)."""
    ps = cfg.callbacks.time_pooling_scale_scheduler
    if not ps.active:
        return None
    from soen_train.training.callbacks.pooling_scale_scheduler import TimePoolingScaleScheduler

    if cfg.training.mapping != "seq2static":
        raise JaxUnsupportedError(
            "callbacks.time_pooling_scale_scheduler.active=true needs "
            "training.mapping=seq2static (there is no pooling in seq2seq)"
        )
    return TimePoolingScaleScheduler(
        ps.start_scale, ps.end_scale, ps.start_epoch, ps.end_epoch,
        setting="callbacks.time_pooling_scale_scheduler",
    ).ramp


def _seq_len_ramp(cfg: Any) -> Optional[EpochRamp]:
    """The sequence-length ramp of ``callbacks.seq_len_scheduler`` (checked like torch's)."""
    sl = cfg.callbacks.seq_len_scheduler
    if not sl.active:
        return None
    from soen_train.training.callbacks.seq_len_scheduler import TargetSeqLenScheduler

    start = sl.start_len if sl.start_len is not None else cfg.data.target_seq_len
    if start is None or sl.end_len is None:
        raise JaxUnsupportedError(
            "callbacks.seq_len_scheduler: set start_len (or data.target_seq_len) and end_len"
        )
    return TargetSeqLenScheduler(
        start, sl.end_len, sl.start_epoch, sl.end_epoch, scale_dt=False,
        setting="callbacks.seq_len_scheduler",
    ).ramp
