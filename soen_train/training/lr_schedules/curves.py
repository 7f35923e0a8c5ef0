"""Pure LR curves: ``constant``, ``linear``, ``cosine`` and ``rex``, functions of the step.

``lr_at(step)`` with step 0 the first batch (no one-batch lag); epoch-valued params (warm-up,
cycle length) are converted to optimiser steps with ``steps_per_epoch``.
"""

from __future__ import annotations

import math

from soen_train.training.losses.param_checks import (
    check_bool,
    check_number,
)
from soen_train.training.lr_schedules.base import LRSchedule, register_lr_schedule


@register_lr_schedule("constant")
class ConstantSchedule(LRSchedule):
    """A fixed LR: ``lr``, or the optimiser's LR when ``lr`` is not given."""

    def __init__(
        self, base_lr: float, steps_per_epoch: float, max_epochs: int, *, lr: float | None = None
    ) -> None:
        super().__init__(base_lr, steps_per_epoch, max_epochs)
        if lr is not None:
            check_number(self.owner, "lr", lr, minimum=0.0, min_inclusive=False)
        self.lr = float(lr) if lr is not None else self.base_lr

    def lr_at(self, step: int) -> float:
        return self.lr


@register_lr_schedule("linear")
class LinearSchedule(LRSchedule):
    """From max_lr at step 0 towards min_lr at the end of training.

    p = min(1, step / N) with N = max_epochs * steps_per_epoch; lr = max_lr - p (max_lr -
    min_lr), or with ``log_space`` lr = exp(ln max_lr - p (ln max_lr - ln min_lr)).
    """

    def __init__(
        self, base_lr: float, steps_per_epoch: float, max_epochs: int, *,
        max_lr: float = 1e-3, min_lr: float = 1e-6, log_space: bool = False,
    ) -> None:
        super().__init__(base_lr, steps_per_epoch, max_epochs)
        self.max_lr = check_number(self.owner, "max_lr", max_lr, minimum=0.0, min_inclusive=False)
        self.log_space = check_bool(self.owner, "log_space", log_space)
        self.min_lr = check_number(
            self.owner, "min_lr", min_lr, minimum=0.0, maximum=self.max_lr,
            min_inclusive=not self.log_space,
        )

    def lr_at(self, step: int) -> float:
        p = min(1.0, max(0, step) / self.total_steps)
        if self.log_space:
            lr = math.exp(math.log(self.max_lr) - p * (math.log(self.max_lr) - math.log(self.min_lr)))
        else:
            lr = self.max_lr - p * (self.max_lr - self.min_lr)
        return max(lr, self.min_lr)


@register_lr_schedule("cosine")
class CosineSchedule(LRSchedule):
    """Linear warm-up from min_lr to max_lr, then cosine cycles with optional restarts.

    Warm-up: lr = min + (max - min) n / W for n < W = warmup_epochs * steps_per_epoch.
    Cycle k lasts L_k = cycle_epochs * period_decay^k epochs (at least one step); its peak is
    M_k = max_lr * restart_decay^k and amplitude A_k = max(0, (M_k - min_lr) amplitude_decay^k).
    With p the progress in the cycle: lr = min_lr + A_k (1 + cos(pi p)) / 2, or with
    ``soft_restart`` a full period (1 + cos(2 pi p)) / 2 whose amplitude slides from A_k to
    A_{k+1} when amplitude_decay < 1. Without restarts one cycle runs, then lr stays at
    min_lr. ``adjust_on_batch: false`` changes the LR only at epoch starts;
    ``batches_per_adjustment`` a holds it for blocks of a steps.
    """

    def __init__(
        self, base_lr: float, steps_per_epoch: float, max_epochs: int, *,
        max_lr: float = 1e-3, min_lr: float = 1e-6, warmup_epochs: float = 5,
        cycle_epochs: float = 50, enable_restarts: bool = True, restart_decay: float = 1.0,
        period_decay: float = 1.0, amplitude_decay: float = 1.0, soft_restart: bool = False,
        adjust_on_batch: bool = True, batches_per_adjustment: int = 1,
    ) -> None:
        super().__init__(base_lr, steps_per_epoch, max_epochs)
        o = self.owner
        self.max_lr = check_number(o, "max_lr", max_lr, minimum=0.0, min_inclusive=False)
        self.min_lr = check_number(o, "min_lr", min_lr, minimum=0.0, maximum=self.max_lr)
        self.warmup_epochs = check_number(o, "warmup_epochs", warmup_epochs, minimum=0.0)
        self.cycle_epochs = check_number(o, "cycle_epochs", cycle_epochs, minimum=0.0, min_inclusive=False)
        self.enable_restarts = check_bool(o, "enable_restarts", enable_restarts)
        self.restart_decay = check_number(o, "restart_decay", restart_decay, minimum=0.0, maximum=1.0)
        self.period_decay = check_number(o, "period_decay", period_decay, minimum=0.0, min_inclusive=False)
        self.amplitude_decay = check_number(o, "amplitude_decay", amplitude_decay, minimum=0.0, maximum=1.0)
        self.soft_restart = check_bool(o, "soft_restart", soft_restart)
        self.adjust_on_batch = check_bool(o, "adjust_on_batch", adjust_on_batch)
        self.batches_per_adjustment = int(
            check_number(o, "batches_per_adjustment", batches_per_adjustment, minimum=1, integer=True)
        )
        if self.soft_restart and not self.enable_restarts:
            raise ValueError(f"{o}: soft_restart needs enable_restarts: true (it rises back to a restart)")
        self.warmup_steps = self.warmup_epochs * self.steps_per_epoch
        self.first_cycle_steps = max(self.cycle_epochs * self.steps_per_epoch, 1.0)

    def _adjusted_step(self, step: int) -> float:
        """The step whose LR applies: the start of the current epoch or adjustment block."""
        step = max(0, int(step))
        if not self.adjust_on_batch:
            return math.floor(step / self.steps_per_epoch) * self.steps_per_epoch
        return (step // self.batches_per_adjustment) * self.batches_per_adjustment

    def cycle_position(self, u: float) -> tuple[int, float]:
        """(cycle index k, progress p in [0, 1]) for u steps after warm-up."""
        first = self.first_cycle_steps
        if not self.enable_restarts:
            return 0, min(u / first, 1.0)
        decay = self.period_decay
        if decay == 1.0:
            k = int(u // first)
            return k, (u - k * first) / first
        k, start = 0, 0.0
        while True:
            length = first * decay**k
            if length <= 1.0 and decay < 1.0:
                # Cycles no longer shrink below one step: the rest is one-step cycles.
                extra = math.floor(u - start)
                return k + extra, (u - start) - extra
            if u < start + length:
                return k, (u - start) / length
            start += length
            k += 1

    def amplitude(self, k: int) -> float:
        """A_k = max(0, (max_lr restart_decay^k - min_lr) amplitude_decay^k)."""
        peak = self.max_lr * self.restart_decay**k
        return max(0.0, (peak - self.min_lr) * self.amplitude_decay**k)

    def lr_at(self, step: int) -> float:
        n = self._adjusted_step(step)
        if n < self.warmup_steps:
            return self.min_lr + (self.max_lr - self.min_lr) * n / self.warmup_steps
        k, p = self.cycle_position(n - self.warmup_steps)
        if self.soft_restart:
            shape = (1.0 + math.cos(2.0 * math.pi * p)) / 2.0
            amp = self.amplitude(k)
            if self.amplitude_decay < 1.0:
                amp = amp * (1.0 - p) + self.amplitude(k + 1) * p
        else:
            shape = (1.0 + math.cos(math.pi * p)) / 2.0
            amp = self.amplitude(k)
        return max(self.min_lr + amp * shape, self.min_lr)


@register_lr_schedule("rex")
class RexSchedule(LRSchedule):
    """REX decay after an optional cosine-shaped warm-up.

    eta0 = max_lr, or the optimiser's LR when max_lr is not given. Warm-up (step <= W):
    lr = warmup_start_lr + (eta0 - warmup_start_lr) (1 - cos(pi step / W)) / 2. Then with
    z = clamp((step - W) / (N - W), 0, 1): lr = min_lr + (eta0 - min_lr) (1 - z) / (0.5 + 0.5 (1 - z)).
    """

    def __init__(
        self, base_lr: float, steps_per_epoch: float, max_epochs: int, *,
        warmup_epochs: float = 0, warmup_start_lr: float = 1e-6, min_lr: float = 0.0,
        max_lr: float | None = None,
    ) -> None:
        super().__init__(base_lr, steps_per_epoch, max_epochs)
        o = self.owner
        self.warmup_epochs = check_number(o, "warmup_epochs", warmup_epochs, minimum=0.0)
        self.warmup_start_lr = check_number(o, "warmup_start_lr", warmup_start_lr, minimum=0.0)
        if max_lr is not None:
            check_number(o, "max_lr", max_lr, minimum=0.0, min_inclusive=False)
        self.peak_lr = float(max_lr) if max_lr is not None else self.base_lr
        self.min_lr = check_number(o, "min_lr", min_lr, minimum=0.0, maximum=self.peak_lr)
        self.warmup_steps = self.warmup_epochs * self.steps_per_epoch

    def lr_at(self, step: int) -> float:
        s = max(0, int(step))
        w = self.warmup_steps
        if w > 0 and s <= w:
            ramp = (1.0 - math.cos(math.pi * s / w)) / 2.0
            return self.warmup_start_lr + (self.peak_lr - self.warmup_start_lr) * ramp
        span = self.total_steps - w
        z = 1.0 if span <= 0 else min(max((s - w) / span, 0.0), 1.0)
        factor = (1.0 - z) / (0.5 + 0.5 * (1.0 - z))
        return self.min_lr + (self.peak_lr - self.min_lr) * factor


