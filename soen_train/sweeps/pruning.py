"""Lightning callback that lets an Optuna pruner stop a bad trial early.

At the end of every validation run it reports the monitored metric (default ``val_loss``) as
the trial's intermediate value and asks the study's pruner; when the pruner says stop, it
raises ``optuna.TrialPruned``, which ends ``Trainer.fit`` and which the Optuna sweeper records
as a PRUNED trial. The trainer adds it when ``current_trial()`` finds a trial.

Under DDP only rank 0 talks to the study; its decision is broadcast so every rank stops at
the same point.
"""

from __future__ import annotations

import logging
from typing import Optional

import lightning.pytorch as pl

from soen_train.loop_policy.optuna_report import (
    STEP_UNITS,
    monitored_value,
    prunable,
    pruned_error,
    report_and_ask,
)
from soen_train.sweeps.trial_context import TrialContextError, TrialHandle, current_trial

log = logging.getLogger(__name__)

__all__ = ["STEP_UNITS", "OptunaPruningCallback"]


class OptunaPruningCallback(pl.Callback):
    """Report ``monitor`` to the current Optuna trial after each validation; prune on request.

    ``step_unit="epoch"`` reports at step = ``trainer.current_epoch`` (so pruner settings such
    as ``n_warmup_steps`` count epochs); ``"global_step"`` uses optimiser steps, which keeps
    several validations per epoch apart. A repeated step replaces the earlier value.
    Multi-objective studies cannot be pruned by Optuna; the callback then does nothing.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        trial: Optional[TrialHandle] = None,
        step_unit: str = "epoch",
    ) -> None:
        super().__init__()
        if step_unit not in STEP_UNITS:
            raise ValueError(
                f"OptunaPruningCallback: step_unit={step_unit!r}; valid: {list(STEP_UNITS)}"
            )
        trial = trial if trial is not None else current_trial()
        if trial is None:
            raise TrialContextError(
                "OptunaPruningCallback needs an Optuna trial: run the job through the Optuna "
                "sweeper (hydra/sweeper=optuna) or pass trial=..."
            )
        self.monitor = monitor
        self.trial = trial
        self.step_unit = step_unit
        self.active = prunable(trial)
        if not self.active:
            log.info(
                "Optuna trial %d belongs to a multi-objective study (%s): no pruning",
                trial.number,
                trial.directions,
            )

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Report the monitored metric and raise ``optuna.TrialPruned`` if the pruner says so."""
        if not self.active or trainer.sanity_checking:
            return
        step = trainer.current_epoch if self.step_unit == "epoch" else trainer.global_step
        prune = False
        value = float("nan")
        if trainer.is_global_zero:
            value = monitored_value(self.monitor, trainer.callback_metrics,
                                    "OptunaPruningCallback: monitor")
            prune = report_and_ask(self.trial, value, step)
        prune = bool(trainer.strategy.broadcast(prune, src=0))
        if prune:
            raise pruned_error(self.trial, self.step_unit, step, self.monitor, value)
