"""Loss-weight schedules: change one configured loss's weight as training progresses.

Each schedule is a pure function of the progress p in [0, 1] through a window of epochs
(``schedule_progress``, shared with the other annealing callbacks). The Lightning callback
``LossWeightSchedulerCallback`` writes the weight into ``WeightedLoss`` every step (or every
epoch) and logs it as ``callbacks/loss_weight_<loss>``. Naming a loss that is not configured
is an error (the original silently did nothing).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterable, Mapping
from typing import Any

from soen_train.loop_policy.epoch_schedules import schedule_progress
from soen_train.registry import Registry, UnknownNameError, check_params
from soen_train.training.losses.param_checks import check_bool, check_choice, check_number
from soen_train.training.lr_schedules import lazy_callback_getattr, optimizer_steps_per_epoch

#: Where the schedules live in the config, used in error messages.
CONFIG_PATH = "callbacks.loss_weight_schedulers"

#: Keys of one schedule entry.
ENTRY_KEYS = ("loss_name", "scheduler_type", "params", "start_epoch", "end_epoch", "per_step")


def schedule_window(start_epoch: int, end_epoch: int, steps_per_epoch: int, per_step: bool) -> float:
    """Span of the progress ramp in its units: s1 - s0 of ``schedule_progress`` (at least 1).

    ``p * span`` is then exactly the number of steps (or epochs) since the window opened,
    so a period given in steps or epochs lasts exactly that long. (The original multiplied
    p by a window one unit longer, stretching every period by span / (span + 1).)
    """
    end = max(end_epoch, start_epoch)
    if per_step:
        span = (end - start_epoch) * steps_per_epoch + steps_per_epoch - 1
    else:
        span = end - start_epoch
    return float(max(1, span))


def linear_weight(p: float, min_weight: float, max_weight: float) -> float:
    """min + p (max - min)."""
    return min_weight + p * (max_weight - min_weight)


def exponential_decay_weight(p: float, initial_weight: float, decay_rate: float) -> float:
    """initial * exp(-decay_rate * p)."""
    return initial_weight * math.exp(-decay_rate * p)


def cosine_decay_weight(p: float, initial_weight: float, final_weight: float) -> float:
    """final + (initial - final) (1 + cos(pi p)) / 2."""
    return final_weight + (initial_weight - final_weight) * (1.0 + math.cos(math.pi * p)) / 2.0


def cycles_elapsed(elapsed: float, base_period: float, period_decay: float) -> float:
    """Number of (fractional) cycles after ``elapsed`` units when cycle k lasts P0 r^k.

    r = 1: elapsed / P0. Otherwise k = floor(ln(1 + (r - 1) e / P0) / ln r) full cycles plus
    the fraction of cycle k. For r < 1 the periods stop shrinking at one unit (the closed
    form would otherwise run out of time after P0 / (1 - r) units).
    """
    p0, r, e = base_period, period_decay, max(0.0, elapsed)
    if r == 1.0:
        return e / p0

    def start(k: int) -> float:
        return p0 * (r**k - 1.0) / (r - 1.0)

    if r < 1.0:
        k_floor = max(0, math.ceil(math.log(1.0 / p0) / math.log(r))) if p0 > 1.0 else 0
        if e >= start(k_floor):
            return k_floor + (e - start(k_floor))
    k = max(0, math.floor(math.log(1.0 + (r - 1.0) * e / p0) / math.log(r)))
    while k > 0 and e < start(k):
        k -= 1
    while e >= start(k + 1):
        k += 1
    return k + (e - start(k)) / (p0 * r**k)


def sinusoidal_weight(
    p: float, min_weight: float, max_weight: float, window: float, period: float | None = None,
    period_decay: float = 1.0, amplitude_decay: float = 0.0, scale: str = "linear",
) -> float:
    """Oscillation between max_weight and min_weight, starting at max_weight.

    e = p * window; c = cycles_elapsed(e, period or window, period_decay); damping
    d = exp(-amplitude_decay c). linear: (max + min)/2 + d (max - min)/2 cos(2 pi c);
    log: exp(ln min + d (1 + cos(2 pi c))/2 (ln max - ln min)).
    """
    c = cycles_elapsed(p * window, period if period is not None else window, period_decay)
    damping = math.exp(-amplitude_decay * c)
    wave = math.cos(2.0 * math.pi * c)
    if scale == "log":
        span = math.log(max_weight) - math.log(min_weight)
        return math.exp(math.log(min_weight) + damping * (1.0 + wave) / 2.0 * span)
    return (max_weight + min_weight) / 2.0 + damping * (max_weight - min_weight) / 2.0 * wave


class WeightCurve:
    """Base for a schedule type: validated params, then ``weight(p, window, spe, per_step)``."""

    name = "base"

    @property
    def owner(self) -> str:
        return f"{CONFIG_PATH} '{self.name}'"


#: Catalog of loss-weight schedule types.
LOSS_WEIGHT_SCHEDULES: Registry[type[WeightCurve]] = Registry("loss weight scheduler")


_register = LOSS_WEIGHT_SCHEDULES.register_named


@_register("linear")
class LinearWeights(WeightCurve):
    """Linear ramp from min_weight (p = 0) to max_weight (p = 1); a decrease if min > max."""

    def __init__(self, min_weight: float, max_weight: float) -> None:
        self.min_weight = check_number(self.owner, "min_weight", min_weight)
        self.max_weight = check_number(self.owner, "max_weight", max_weight)

    def weight(self, p: float, window: float, steps_per_epoch: int, per_step: bool) -> float:
        return linear_weight(p, self.min_weight, self.max_weight)


@_register("exponential_decay", "exp_decay", "exponential")
class ExponentialDecayWeights(WeightCurve):
    """initial_weight * exp(-r p), r = decay_rate or -ln(final_weight / initial_weight)."""

    def __init__(
        self, initial_weight: float, decay_rate: float | None = None,
        final_weight: float | None = None,
    ) -> None:
        o = self.owner
        self.initial_weight = check_number(o, "initial_weight", initial_weight)
        if (decay_rate is None) == (final_weight is None):
            raise ValueError(f"{o}: give exactly one of decay_rate or final_weight")
        if decay_rate is not None:
            self.decay_rate = check_number(o, "decay_rate", decay_rate)
        else:
            check_number(o, "initial_weight", initial_weight, minimum=0.0, min_inclusive=False)
            final = check_number(o, "final_weight", final_weight, minimum=0.0, min_inclusive=False)
            self.decay_rate = -math.log(final / self.initial_weight)

    def weight(self, p: float, window: float, steps_per_epoch: int, per_step: bool) -> float:
        return exponential_decay_weight(p, self.initial_weight, self.decay_rate)


@_register("cosine_decay", "cosine")
class CosineDecayWeights(WeightCurve):
    """Half cosine from initial_weight (p = 0) to final_weight (p = 1)."""

    def __init__(self, initial_weight: float, final_weight: float) -> None:
        self.initial_weight = check_number(self.owner, "initial_weight", initial_weight)
        self.final_weight = check_number(self.owner, "final_weight", final_weight)

    def weight(self, p: float, window: float, steps_per_epoch: int, per_step: bool) -> float:
        return cosine_decay_weight(p, self.initial_weight, self.final_weight)


@_register("sinusoidal", "sinisoidal")
class SinusoidalWeights(WeightCurve):
    """Damped oscillation between min_weight and max_weight (see ``sinusoidal_weight``).

    The base period is ``period_steps`` or ``period_epochs`` (converted to the schedule's
    units), default the whole window.
    """

    def __init__(
        self, min_weight: float, max_weight: float, scale: str = "linear",
        period_steps: float | None = None, period_epochs: float | None = None,
        period_decay: float = 1.0, amplitude_decay: float = 0.0,
    ) -> None:
        o = self.owner
        self.scale = check_choice(o, "scale", scale, ("linear", "log"))
        positive = self.scale == "log"
        self.min_weight = check_number(o, "min_weight", min_weight, minimum=0.0 if positive else None,
                                       min_inclusive=not positive)
        self.max_weight = check_number(o, "max_weight", max_weight, minimum=self.min_weight)
        if period_steps is not None and period_epochs is not None:
            raise ValueError(f"{o}: give period_steps or period_epochs, not both")
        self.period_steps = None if period_steps is None else check_number(
            o, "period_steps", period_steps, minimum=0.0, min_inclusive=False)
        self.period_epochs = None if period_epochs is None else check_number(
            o, "period_epochs", period_epochs, minimum=0.0, min_inclusive=False)
        self.period_decay = check_number(o, "period_decay", period_decay, minimum=0.0, min_inclusive=False)
        self.amplitude_decay = check_number(o, "amplitude_decay", amplitude_decay, minimum=0.0)

    def period(self, steps_per_epoch: int, per_step: bool) -> float | None:
        """Base period in the schedule's units (steps if per_step, else epochs), or None."""
        if self.period_steps is not None:
            return self.period_steps if per_step else self.period_steps / steps_per_epoch
        if self.period_epochs is not None:
            return self.period_epochs * steps_per_epoch if per_step else self.period_epochs
        return None

    def weight(self, p: float, window: float, steps_per_epoch: int, per_step: bool) -> float:
        return sinusoidal_weight(
            p, self.min_weight, self.max_weight, window, self.period(steps_per_epoch, per_step),
            self.period_decay, self.amplitude_decay, self.scale,
        )


class LossWeightSchedule:
    """One configured schedule: which loss, which curve, over which epochs, per step or epoch."""

    def __init__(
        self,
        loss_name: str,
        scheduler_type: str,
        params: Mapping[str, Any] | None = None,
        start_epoch: int = 0,
        end_epoch: int | None = None,
        per_step: bool = True,
    ) -> None:
        try:
            kind = LOSS_WEIGHT_SCHEDULES.canonical(str(scheduler_type))
        except UnknownNameError as err:
            raise UnknownNameError(f"{CONFIG_PATH} (loss '{loss_name}'): {err}") from None
        owner = f"{CONFIG_PATH} '{kind}' for loss '{loss_name}'"
        given = dict(params or {})
        cls = LOSS_WEIGHT_SCHEDULES.get(kind)
        accepted = LOSS_WEIGHT_SCHEDULES.params(kind)
        check_params(owner, given, accepted)
        missing = [k for k, d in accepted.items() if d is inspect.Parameter.empty and k not in given]
        if missing:
            raise ValueError(f"{owner}: missing required params {missing}")
        self.loss_name = str(loss_name)
        self.scheduler_type = kind
        self.curve = cls(**given)
        self.start_epoch = int(check_number(owner, "start_epoch", start_epoch, minimum=0, integer=True))
        self.end_epoch = None if end_epoch is None else int(
            check_number(owner, "end_epoch", end_epoch, minimum=0, integer=True))
        self.per_step = check_bool(owner, "per_step", per_step)

    @classmethod
    def from_config(cls, entry: Any, index: int = 0) -> LossWeightSchedule:
        """Build from a config mapping (or an object with the same attributes)."""
        if isinstance(entry, LossWeightSchedule):
            return entry
        where = f"{CONFIG_PATH}[{index}]"
        if isinstance(entry, Mapping):
            extra = [k for k in entry if k not in ENTRY_KEYS]
            if extra:
                raise ValueError(f"{where}: unknown key(s) {extra}; valid keys: {', '.join(ENTRY_KEYS)}")
            fields = dict(entry)
        else:
            fields = {k: getattr(entry, k) for k in ENTRY_KEYS if hasattr(entry, k)}
        for key in ("loss_name", "scheduler_type"):
            if fields.get(key) is None:
                raise ValueError(f"{where}: '{key}' is required")
        return cls(**fields)

    def weight_at(self, global_step: int, epoch: int, steps_per_epoch: int, max_epochs: int) -> float:
        """The weight at this point of training (end_epoch defaults to max_epochs - 1)."""
        end = self.end_epoch if self.end_epoch is not None else max(max_epochs - 1, self.start_epoch)
        position = global_step if self.per_step else epoch
        p = schedule_progress(position, self.start_epoch, end, steps_per_epoch, self.per_step)
        window = schedule_window(self.start_epoch, end, steps_per_epoch, self.per_step)
        return self.curve.weight(p, window, steps_per_epoch, self.per_step)


class LossWeightSchedulerHooks:
    """Write scheduled weights into a ``WeightedLoss`` and log ``callbacks/loss_weight_<loss>``.

    Hooks of ``LossWeightSchedulerCallback`` (a ``lightning.pytorch.Callback`` created on
    first use so that importing the schedules does not import Lightning). Per-step schedules
    update before every training batch, per-epoch ones at each epoch start.
    """

    def __init__(self, schedules: Iterable[Any], weighted_loss: Any) -> None:
        self.weighted_loss = weighted_loss
        self.schedules: list[LossWeightSchedule] = []
        self.keys: list[str] = []
        for index, entry in enumerate(schedules):
            schedule = LossWeightSchedule.from_config(entry, index)
            try:
                key = weighted_loss.resolve_key(schedule.loss_name)
            except UnknownNameError as err:
                raise UnknownNameError(f"{CONFIG_PATH}[{index}]: {err}") from None
            if key in self.keys:
                raise ValueError(f"{CONFIG_PATH}[{index}]: loss '{key}' already has a weight schedule")
            self.schedules.append(schedule)
            self.keys.append(key)

    def _update(self, trainer: Any, pl_module: Any, per_step: bool) -> dict[str, float]:
        spe = optimizer_steps_per_epoch(trainer, pl_module)
        max_epochs = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else 1
        applied: dict[str, float] = {}
        for key, schedule in zip(self.keys, self.schedules):
            if schedule.per_step != per_step:
                continue
            w = schedule.weight_at(trainer.global_step, trainer.current_epoch, spe, max_epochs)
            self.weighted_loss.set_weight(key, w)
            applied[key] = w
            pl_module.log(
                f"callbacks/loss_weight_{key}", w, on_step=per_step, on_epoch=not per_step,
                batch_size=1,
            )
        return applied

    @property
    def uses_batch_hooks(self) -> bool:
        """Whether a schedule changes per step (per-epoch ones leave the fast loop usable)."""
        return any(schedule.per_step for schedule in self.schedules)

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        self._update(trainer, pl_module, per_step=True)

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        self._update(trainer, pl_module, per_step=False)


#: Creates ``LossWeightSchedulerCallback`` lazily (importing Lightning only when it is used).
__getattr__ = lazy_callback_getattr(
    globals(), "LossWeightSchedulerCallback", LossWeightSchedulerHooks
)
