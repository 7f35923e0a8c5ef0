"""soen-train's own training loop: a whole epoch inside one Lightning training step.

Lightning's loop costs 0.5 to 1 ms per batch (hooks, progress tracking, logger bookkeeping),
about a third of a training step of the default pulses net. When nothing in a run needs Lightning's
per-batch machinery, the Lightning module takes the epoch's batches itself (Lightning's
``dataloader_iter`` training step) and runs, batch by batch, what Lightning's automatic
optimisation would: forward and loss, ``zero_grad``, backward, the ``on_before_optimizer_step``
hooks, gradient clipping, the optimiser step and the model's constraints. It advances
Lightning's step counters per batch as Lightning's loop does, so ``global_step``, the logging
steps, schedules, logs and checkpoints are those of Lightning's loop. Validation, checkpoints,
early stopping and the loggers stay Lightning's: they run once per epoch either way.

``fast_loop_blockers`` says why a run needs Lightning's loop instead (a callback with its own
per-batch hooks, gradient accumulation, DDP, ...); ``training.fast_loop=false`` asks for it.

Keeping Lightning's books takes four of its internals (Lightning 2.6; pinned in pyproject and
checked by tests/training/test_fast_loop.py): the optimiser-step progress of its manual and
automatic optimisation loops, the epoch loop's ``_batches_that_stepped`` (the step loggers
write under) and the data fetcher's ``fetched`` count.
"""

from __future__ import annotations

import re
import warnings
from typing import Any, Iterator, List, Optional, Tuple

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, ProgressBar
from lightning.pytorch.plugins.precision import Precision
from lightning.pytorch.profilers import PassThroughProfiler
from lightning.pytorch.utilities.model_helpers import is_overridden

#: Per-batch hooks that Lightning calls once per epoch (not per batch) around the fast loop: a
#: callback overriding one of them needs Lightning's loop, unless `_callback_blocker` knows it.
BATCH_HOOKS = (
    "on_train_batch_start", "on_train_batch_end", "on_before_zero_grad", "on_before_backward",
    "on_after_backward",
)
#: Module hooks of Lightning's automatic optimisation that the fast loop does not call.
MODULE_STEP_HOOKS = (*BATCH_HOOKS, "training_step", "optimizer_step", "optimizer_zero_grad", "backward",
                     "configure_gradient_clipping", "on_before_optimizer_step")

#: Lightning warnings that do not apply to the fast loop: it uses the "experimental"
#: ``dataloader_iter`` step on purpose, and it resumes exactly in the middle of an epoch (it skips
#: the batches trained before the checkpoint).
NOT_APPLICABLE = (
    "Found `dataloader_iter` argument in the `training_step`",
    "You're resuming from a checkpoint that ended before the epoch ended",
)


class MutedWarnings:
    """Silences ``NOT_APPLICABLE`` from fit start until the fast loop's first epoch begins
    (Lightning issues both in between), leaving every other warning, and later ones, alone."""

    def __init__(self) -> None:
        self._context: Optional[warnings.catch_warnings] = None

    def start(self) -> None:
        if self._context is None:
            self._context = warnings.catch_warnings()
            self._context.__enter__()
            for message in NOT_APPLICABLE:
                warnings.filterwarnings("ignore", message=re.escape(message))

    def stop(self) -> None:
        if self._context is not None:
            self._context.__exit__(None, None, None)
            self._context = None


def _callback_blocker(callback: Callback) -> Optional[str]:
    """Why ``callback`` needs Lightning's per-batch loop (None: it works with the fast loop)."""
    from soen_train.training.lr_schedules.callback import LRSchedulerHooks

    hooks = [h for h in BATCH_HOOKS if is_overridden(h, callback, Callback)]
    if not hooks or getattr(callback, "uses_batch_hooks", True) is False:
        return None  # a callback says so when its batch hooks do nothing in this run
    if isinstance(callback, ProgressBar):
        return None  # the fast loop calls its on_train_batch_end after every batch
    if isinstance(callback, LRSchedulerHooks) and hooks == ["on_train_batch_start"]:
        return None  # it sets the LR again in on_before_optimizer_step, which runs per batch
    if (isinstance(callback, ModelCheckpoint) and not getattr(callback, "_every_n_train_steps", 0)
            and getattr(callback, "_train_time_interval", None) is None):
        return None  # saves per epoch only
    return f"callback {type(callback).__name__} has per-batch hooks ({', '.join(hooks)})"


def fast_loop_blockers(trainer: pl.Trainer, module: pl.LightningModule, base: type) -> List[str]:
    """Why ``trainer`` must run ``module`` batch by batch in Lightning's loop ([]: it need not).

    ``base`` is the module class whose step hooks the fast loop reproduces (a subclass that
    overrides one needs Lightning's loop). Called at fit start, once the optimiser, callbacks
    and a resumed checkpoint are in place.
    """
    reasons = []
    if getattr(module, "tbptt_steps", None):
        reasons.append("truncated BPTT steps once per chunk")
    elif not module.automatic_optimization:
        reasons.append("the module optimises manually")
    if trainer.accumulate_grad_batches != 1:
        reasons.append("training.accumulate_grad_batches > 1")
    if trainer.world_size != 1:
        reasons.append("more than one process (devices x nodes > 1)")
    if type(trainer.precision_plugin) is not Precision:
        # mixed precision scales the loss; 64-true sets the default dtype around the forward only
        reasons.append(f"precision {trainer.precision} (only 32-true runs in the fast loop)")
    if not isinstance(trainer.profiler, PassThroughProfiler):
        reasons.append("the profiler records Lightning's per-batch steps")
    if trainer.val_check_interval != 1.0 or trainer.overfit_batches:
        reasons.append("validation inside an epoch, or overfit_batches")
    if len(trainer.optimizers) != 1 or trainer.lr_scheduler_configs:
        reasons.append("several optimisers or a Lightning LR scheduler")
    for hook in MODULE_STEP_HOOKS:
        if getattr(type(module), hook) is not getattr(base, hook):
            reasons.append(f"{type(module).__name__}.{hook} is overridden")
    reasons += [r for r in map(_callback_blocker, trainer.callbacks) if r]
    return reasons


def align_step_counters(trainer: pl.Trainer) -> None:
    """Make the manual-optimisation step count (what ``global_step`` reads in the fast loop)
    equal to the automatic one, e.g. after resuming a checkpoint of Lightning's loop."""
    loop = trainer.fit_loop.epoch_loop
    steps = loop.automatic_optimization.optim_progress.optimizer_steps
    manual = loop.manual_optimization.optim_step_progress
    if manual.total.completed != steps:
        manual.total.ready = manual.total.completed = steps


def count_optimizer_step(trainer: pl.Trainer) -> None:
    """Advance Lightning's counters by one optimiser step, in the manual-optimisation tracker
    (``global_step`` now) and the automatic one (``global_step`` if a checkpoint of this run is
    resumed in Lightning's loop), as Lightning's own loop would."""
    loop = trainer.fit_loop.epoch_loop
    manual = loop.manual_optimization.optim_step_progress
    manual.increment_ready()
    manual.increment_completed()
    automatic = loop.automatic_optimization.optim_progress.optimizer
    for progress in (automatic.zero_grad, automatic.step):
        progress.increment_ready()
        progress.increment_completed()


def count_logged_batch(trainer: pl.Trainer) -> None:
    """Advance the step that loggers write under by one batch; Lightning adds the epoch's last
    batch itself after the training step returns."""
    trainer.fit_loop.epoch_loop._batches_that_stepped += 1


def _preparation_is_identity(trainer: pl.Trainer, module: pl.LightningModule) -> bool:
    """Whether Lightning's preparation of a batch leaves a tuple of tensors already on the
    device as it is: no batch-transfer hook of module or data module but the SOEN data
    module's move of ``(x, y)`` (the 32-true precision plugin of the fast loop casts nothing)."""
    from soen_train.data.datamodule import SOENDataModule

    hooks = ("on_before_batch_transfer", "transfer_batch_to_device", "on_after_batch_transfer")
    if any(is_overridden(h, module, pl.LightningModule) for h in hooks):
        return False
    data = trainer.datamodule
    if data is None:
        return True
    return (not any(is_overridden(h, data, pl.LightningDataModule) for h in hooks[::2])
            and type(data).transfer_batch_to_device in (
                SOENDataModule.transfer_batch_to_device, pl.LightningDataModule.transfer_batch_to_device))


def epoch_batches(
    trainer: pl.Trainer, module: pl.LightningModule, dataloader_iter: Iterator, skip: int = 0
) -> Iterator[Tuple[Any, int]]:
    """``(batch, batch_idx)`` of the epoch on the training device, prepared as Lightning's loop
    prepares them; the first ``skip`` batches (trained before a mid-epoch resume) are drawn and
    dropped. Stops early at ``max_steps`` or once a SIGTERM arrived (Lightning then stops)."""
    # Lightning counts the steps of an epoch begun before a resume as batches already fetched;
    # this step fetches the whole epoch itself, so the count starts from nothing
    dataloader_iter.data_fetcher.fetched = 0
    device = trainer.strategy.root_device
    # device batches of cached data need no preparation: skip three hook dispatches per batch
    as_is = _preparation_is_identity(trainer, module)
    max_steps = trainer.max_steps
    for batch, batch_idx, _ in dataloader_iter:
        if batch_idx < skip:
            continue
        if not (as_is and isinstance(batch, tuple)
                and all(isinstance(t, torch.Tensor) and t.device == device for t in batch)):
            batch = trainer.precision_plugin.convert_input(batch)
            batch = module._on_before_batch_transfer(batch, dataloader_idx=0)
            batch = trainer.strategy.batch_to_device(batch, dataloader_idx=0)
        yield batch, batch_idx
        if trainer.received_sigterm or 0 <= max_steps <= trainer.global_step:
            return


def step_end_callbacks(trainer: pl.Trainer) -> List[Callback]:
    """Callbacks whose ``on_train_batch_end`` the fast loop calls after every batch."""
    return [cb for cb in trainer.callbacks if isinstance(cb, ProgressBar)]


def before_step_callbacks(trainer: pl.Trainer) -> List[Callback]:
    """Callbacks with an ``on_before_optimizer_step`` hook (LR schedules, gradient monitors)."""
    return [cb for cb in trainer.callbacks if is_overridden("on_before_optimizer_step", cb, Callback)]
