"""The JAX training loop: same data, losses, schedules, logs and run folders as the torch backend.

``JaxTrainer(cfg, paths, datamodule, model).fit()`` trains one repeat of a
``SOENTrainConfig`` with ``training.backend=jax`` and returns a ``JaxRunResult`` (best and
final validation values, ``epochs_trained``, like the torch runner's summary; checkpoint
paths, timings); ``test`` adds the test figures.
The model is the seeded ``SOENModel`` the runner built; the data module is the same
``SOENDataModule`` (its torch batches are turned into numpy arrays).

What one repeat does:

- checks the config (``config_support.check_jax_config``) and the model (no noise);
- per optimiser step: LR from ``callbacks.lr_scheduler`` (the torch schedule objects, a
  pure function of the step), loss-term weights from ``callbacks.loss_weight_schedulers``,
  gradient accumulation and clipping, optax update, then the model's constraints;
- per epoch: pooling scale and sequence length schedules, train/val losses and metrics,
  LR-schedule feedback, Optuna pruning, checkpoints, early stopping on ``val_loss`` (the
  rules of ``soen_train.loop_policy``, shared with the Lightning callbacks);
- after training: the test split on the ``training.test_checkpoint`` weights (best|last).

Logs go to the Lightning loggers of the torch runner (TensorBoard in ``logs/repeat_<k>``,
MLflow) with the canonical tags ``train_loss``, ``train_loss/<term>``, ``train_<metric>``,
``val_loss``, ``val_loss/<term>``, ``val_<metric>``, ``test_loss``, ``test_<metric>``,
``lr``, ``epoch`` (plus ``train_loss_step`` every ``logging.log_freq`` steps).
Checkpoints go to ``checkpoints/repeat_<k>``: ``last.jax.npz``,
``epoch=NN-val_loss=0.1234.jax.npz`` (top k by val_loss), ``initial.jax.npz``, each with
its ``.soen``, and ``best.soen``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from soen_train.jax.checkpoint import load_checkpoint
from soen_train.jax.config_support import check_jax_config, check_model_noise
from soen_train.jax.errors import JaxNonFiniteLossError, JaxUnsupportedError
from soen_train.jax.losses import JaxWeightedLoss
from soen_train.jax.optimizers import build_jax_optimizer
from soen_train.jax.simulator import JaxSOEN
from soen_train.jax.train_step import Alignment, StepFunctions, as_weight_arrays, tree_mean
from soen_train.loop_policy import checkpoint_rule, optuna_report
from soen_train.loop_policy.metric_history import summarise_history, validation_row
from soen_train.loop_policy.step_logging import logs_step

from . import checkpoints
from .loader_batches import batch_limit, numpy_batches, set_loader_epoch
from .run_state import JaxRunResult, TrainerState
from .schedules import JaxSchedules

log = logging.getLogger("soen_train.jax")


class JaxTrainer:
    """Trains a ``SOENModel``'s JAX twin for one repeat of a ``SOENTrainConfig``."""

    def __init__(
        self, cfg: Any, paths: Any, datamodule: Any, model: Any, loggers: Optional[List[Any]] = None
    ) -> None:
        check_jax_config(cfg)
        self._check_accelerator(cfg.training.accelerator)
        self.cfg = cfg
        self.paths = paths
        self.dm = datamodule
        self.torch_model = model
        self.jax_model, params = JaxSOEN.from_torch(model)
        check_model_noise(self.jax_model)
        self.trainable, self.frozen = self.jax_model.split(params)
        if not self.trainable:
            raise JaxUnsupportedError("the model has no trainable parameters to optimise")
        t = cfg.training
        self.metric_names = list(cfg.logging.metrics) if t.paradigm == "supervised" else []
        if self.metric_names:
            from soen_train.training.metrics import validate_metric_names

            validate_metric_names(self.metric_names)
        self.loss = JaxWeightedLoss([dataclasses.asdict(item) for item in t.loss.losses])
        pooling = cfg.model.time_pooling
        pooling_params = dict(pooling.params)
        base_scale = float(pooling_params.pop("scale", 1.0))
        if t.mapping == "seq2static":
            from soen_train.training.time_pooling import validate_pooling

            validate_pooling(pooling.name, {**pooling_params, "scale": base_scale})
        alignment = Alignment(
            mapping=t.mapping,
            paradigm=t.paradigm,
            pooling_name=pooling.name,
            pooling_params=tuple(sorted(pooling_params.items())),
        )
        optimizer = build_jax_optimizer(
            t.optimizer.name,
            dict(t.optimizer.kwargs or {}),
            t.gradient_clip_val,
            t.gradient_clip_algorithm,
        )
        self.optimizer = optimizer
        self.opt_state = optimizer.init(self.trainable)
        self.steps = StepFunctions(self.jax_model, self.loss, alignment, optimizer)
        self.accumulate = max(1, int(t.accumulate_grad_batches))
        self.state = TrainerState()
        self.loggers = list(loggers) if loggers is not None else []
        self.compile_seconds = 0.0
        self._seen_shapes: set = set()
        self.schedules = JaxSchedules(cfg, self.loss, len(self.dm.train_dataloader()),
                                      self.accumulate, base_scale)
        self.steps_per_epoch = self.schedules.steps_per_epoch

    # ------------------------------------------------------------------ setup
    @staticmethod
    def _check_accelerator(accelerator: str) -> None:
        if accelerator in ("gpu", "cuda"):
            try:
                jax.devices("gpu")
            except RuntimeError:
                raise JaxUnsupportedError(
                    f"training.accelerator={accelerator!r}, but JAX sees no GPU; install a "
                    "CUDA build of jax or use accelerator=cpu"
                ) from None

    def _loss_weights(self, epoch: int) -> Dict[str, float]:
        return self.schedules.loss_weights(self.state.global_step, epoch)

    # ------------------------------------------------------------------ logging
    def _log(self, metrics: Dict[str, float], step: int) -> None:
        clean = {
            k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(float(v))
        }
        for logger in self.loggers:
            logger.log_metrics(clean, step=step)

    # ------------------------------------------------------------------ one pass
    def _timed(self, fn: Any, key: Tuple, *args: Any) -> Any:
        """Call a jitted function; the first call per input shape is counted as compile time."""
        if key in self._seen_shapes:
            return fn(*args)
        started = time.perf_counter()
        out = jax.block_until_ready(fn(*args))
        self.compile_seconds += time.perf_counter() - started
        self._seen_shapes.add(key)
        return out

    def _train_epoch(self, epoch: int, scale: float) -> Dict[str, float]:
        log_freq = int(self.cfg.logging.log_freq)
        sums: Dict[str, float] = {}
        count = 0
        outputs: List[np.ndarray] = []
        targets: List[np.ndarray] = []
        pending: List[Any] = []
        scale_arr = jnp.asarray(scale, dtype=jnp.float32)
        loader = self.dm.train_dataloader()
        set_loader_epoch(loader, epoch)
        limit = self.schedules.train_limit
        n_batches = len(loader) if limit is None else min(len(loader), limit)
        for index, (x, y) in enumerate(numpy_batches(loader, n_batches)):
            current = self._loss_weights(epoch)
            weights = as_weight_arrays(current)
            key = ("train", x.shape, None if y is None else (y.shape, y.dtype.str))
            grads, total, terms, out, tgt = self._timed(
                self.steps.loss_and_grads,
                key,
                self.trainable,
                self.frozen,
                x,
                y,
                weights,
                scale_arr,
            )
            total_f = float(total)
            if not math.isfinite(total_f):
                bad = [k for k, v in terms.items() if not math.isfinite(float(v))]
                raise JaxNonFiniteLossError(
                    f"train loss became {total_f} at epoch {epoch}, step {self.state.global_step} "
                    f"(non-finite terms: {', '.join(bad) or 'total'}); lower training.lr, set "
                    "training.gradient_clip_val, or check the data"
                )
            pending.append(grads)
            count += _add_batch(sums, "train", total_f, terms, x.shape[0])
            self._keep_outputs(outputs, targets, out, tgt)
            last = index == n_batches - 1
            if len(pending) == self.accumulate or last:
                lr = float(self.schedules.lr.lr_at(self.state.global_step))
                grads_mean = pending[0] if len(pending) == 1 else tree_mean(pending)
                self.trainable, self.opt_state = self._timed(
                    self.steps.apply_update,
                    ("update",),
                    self.trainable,
                    self.opt_state,
                    grads_mean,
                    jnp.asarray(lr, dtype=jnp.float32),
                )
                pending = []
                if logs_step(self.state.global_step, log_freq):
                    scheduled = {
                        f"callbacks/loss_weight_{k}": current[k] for k, _ in self.schedules.weights
                    }
                    self._log(
                        {"train_loss_step": total_f, "lr": lr, **scheduled}, self.state.global_step
                    )
                self.state.global_step += 1
        if count == 0:
            raise JaxUnsupportedError("the training split produced no batches")
        row = {k: v / count for k, v in sums.items()}
        row.update(self._metrics("train", outputs, targets))
        return row

    def _evaluate_split(
        self,
        loader: Any,
        stage: str,
        scale: float,
        limit: Optional[int] = None,
        params: Optional[Tuple[Any, Any]] = None,
    ) -> Dict[str, float]:
        trainable, frozen = params if params is not None else (self.trainable, self.frozen)
        sums: Dict[str, float] = {}
        count = 0
        outputs: List[np.ndarray] = []
        targets: List[np.ndarray] = []
        weights = as_weight_arrays(self._loss_weights(self.state.epoch))
        scale_arr = jnp.asarray(scale, dtype=jnp.float32)
        for x, y in numpy_batches(loader, limit):
            key = ("eval", x.shape, None if y is None else (y.shape, y.dtype.str))
            total, terms, out, tgt = self._timed(
                self.steps.evaluate, key, trainable, frozen, x, y, weights, scale_arr
            )
            count += _add_batch(sums, stage, float(total), terms, x.shape[0])
            self._keep_outputs(outputs, targets, out, tgt)
        if count == 0:
            return {}
        row = {k: v / count for k, v in sums.items()}
        row.update(self._metrics(stage, outputs, targets))
        return row

    def _keep_outputs(self, outputs: List[np.ndarray], targets: List[np.ndarray], out: Any,
                      tgt: Any) -> None:
        """Keep a batch's outputs and targets for the epoch's metrics (when any are logged)."""
        if self.metric_names and tgt is not None:
            outputs.append(np.asarray(out))
            targets.append(np.asarray(tgt))

    def _metrics(
        self, stage: str, outputs: List[np.ndarray], targets: List[np.ndarray]
    ) -> Dict[str, float]:
        if not self.metric_names or not outputs:
            return {}
        import torch

        from soen_train.training.metrics import compute_metrics

        values = compute_metrics(
            self.metric_names,
            torch.from_numpy(np.concatenate(outputs)),
            torch.from_numpy(np.concatenate(targets)),
        )
        return {f"{stage}_{k}": float(v) for k, v in values.items() if v is not None}

    # ------------------------------------------------------------------ checkpoints
    def params(self, trainable: Optional[Any] = None) -> Dict[str, Any]:
        """Every parameter by name: the trainable ones (these or ``trainable``) and the frozen."""
        return {**(self.trainable if trainable is None else trainable), **self.frozen}

    def restore(self, path: str) -> None:
        """Continue from a checkpoint (see ``checkpoints.restore``)."""
        checkpoints.restore(self, path)

    # ------------------------------------------------------------------ fit / test
    def fit(self) -> JaxRunResult:
        """Train up to ``training.max_epochs`` (or until early stopping / pruning)."""
        t = self.cfg.training
        if t.train_from_checkpoint:
            self.restore(str(t.train_from_checkpoint))
        elif t.save_initial_state:
            checkpoints.write_checkpoint(self, Path(self.paths.checkpoints) / "initial.jax.npz")
        trial = _current_trial()
        started = time.perf_counter()
        for epoch in range(self.state.epoch, int(t.max_epochs)):
            row = self._run_epoch(epoch)
            decision = checkpoints.checkpoint_epoch(self, epoch, row.get("val_loss"))
            if trial is not None:
                _report_to_trial(trial, t.objective_metric, row, epoch)
            if t.early_stopping_patience and decision is not None and decision.stop:
                log.info("early stopping after epoch %d: %s", epoch, decision.reason)
                break
        return JaxRunResult(
            metrics=summarise_history(self.state.history),
            best_checkpoint=checkpoint_rule.best_path(self.state.top_k),
            last_checkpoint=str(Path(self.paths.checkpoints) / "last.jax.npz")
            if t.checkpoint_save_last
            else None,
            compile_seconds=self.compile_seconds,
            train_seconds=time.perf_counter() - started,
        )

    def _run_epoch(self, epoch: int) -> Dict[str, float]:
        """Schedules, one training pass and validation of ``epoch``; its logged row."""
        t = self.cfg.training
        length = self.schedules.seq_len_at(epoch)
        if length is not None:
            self.dm.set_target_seq_len(length)
            self._log({"callbacks/target_seq_len": float(length)}, self.state.global_step)
        scale = self.schedules.scale_at(epoch)
        if self.schedules.scale is not None:
            self._log({"callbacks/time_pooling_scale": scale}, self.state.global_step)
        row = self._train_epoch(epoch, scale)
        val_loader = self._loader("val")
        if val_loader is not None:
            limit = batch_limit(t.limit_val_batches, len(val_loader))
            row.update(self._evaluate_split(val_loader, "val", scale, limit))
        row["epoch"] = float(epoch)
        step = max(self.state.global_step - 1, 0)
        self._log(row, step)
        self.state.epoch = epoch + 1
        self.state.history.append(validation_row(row, epoch))
        if row.get("val_loss") is not None and self.schedules.lr.stateful:
            self.schedules.lr.on_validation_end(row, step=self.state.global_step)
        return row

    def _loader(self, split: str) -> Any:
        getter = getattr(self.dm, f"{split}_dataloader", None)
        if getter is None:
            return None
        try:
            loader = getter()
        except Exception:  # a data module without this split raises instead of returning None
            return None
        if loader is None or len(loader) == 0:
            return None
        return loader

    def test(self, result: JaxRunResult) -> Dict[str, float]:
        """Test-split metrics on the ``training.test_checkpoint`` weights (empty without one)."""
        loader = self._loader("test")
        if loader is None:
            return {}
        params = None
        if self.cfg.training.test_checkpoint == "best" and result.best_checkpoint:
            best = load_checkpoint(result.best_checkpoint)
            params = self.jax_model.split({k: jnp.asarray(v) for k, v in best.params.items()})
        scale = self.schedules.scale_at(max(self.state.epoch - 1, 0))
        row = self._evaluate_split(loader, "test", scale, params=params)
        self._log(row, self.state.global_step)
        return row

    def finalize(self, status: str = "success") -> None:
        """Flush and close the loggers."""
        for logger in self.loggers:
            logger.finalize(status)


def _add_batch(sums: Dict[str, float], stage: str, total: float, terms: Dict[str, Any],
               batch_size: int) -> int:
    """Add one batch's sample-weighted ``<stage>_loss`` (and per-term losses) to ``sums``."""
    sums[f"{stage}_loss"] = sums.get(f"{stage}_loss", 0.0) + total * batch_size
    if len(terms) > 1:
        for name, value in terms.items():
            key = f"{stage}_loss/{name}"
            sums[key] = sums.get(key, 0.0) + float(value) * batch_size
    return batch_size


def _current_trial() -> Any:
    """This job's Optuna trial when it can be pruned (single-objective), else None."""
    from soen_train.sweeps.trial_context import current_trial

    trial = current_trial()
    return trial if optuna_report.prunable(trial) else None


def _report_to_trial(trial: Any, metric: str, row: Dict[str, float], epoch: int) -> None:
    """Report this epoch's objective metric; raise optuna.TrialPruned if the pruner says so."""
    value = optuna_report.monitored_value(metric, row, "training.objective_metric")
    if optuna_report.report_and_ask(trial, value, epoch):
        raise optuna_report.pruned_error(trial, "epoch", epoch, metric, value)
