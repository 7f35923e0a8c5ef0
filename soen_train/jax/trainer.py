"""The JAX training loop: same data, losses, schedules, logs and run folders as the torch backend.

``run_jax_repeat(cfg, repeat, paths, datamodule, model)`` trains one repeat of a
``SOENTrainConfig`` with ``training.backend=jax`` and returns its metrics (best and final
validation values, ``epochs_trained``, test figures), like the torch runner's summary.
The model is the seeded ``SOENModel`` the runner built; the data module is the same
``SOENDataModule`` (its torch batches are turned into numpy arrays).

What one repeat does:

- checks the config (``config_support.check_jax_config``) and the model (no noise);
- per optimiser step: LR from ``callbacks.lr_scheduler`` (the torch schedule objects, a
  pure function of the step), loss-term weights from ``callbacks.loss_weight_schedulers``,
  gradient accumulation and clipping, optax update, then the model's constraints;
- per epoch: pooling scale and sequence length schedules, train/val losses and metrics,
  LR-schedule feedback, Optuna pruning, checkpoints, early stopping on ``val_loss``;
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

import copy
import logging
import math
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from .architecture_match import same_architecture
from .checkpoint import (
    JaxCheckpoint,
    is_jax_checkpoint,
    load_checkpoint,
    save_checkpoint,
    soen_path_for,
)
from .config_support import check_jax_config, check_model_noise
from .errors import JaxCheckpointError, JaxNonFiniteLossError, JaxUnsupportedError
from .loader_batches import batch_limit, numpy_batches, set_loader_epoch
from .losses import JaxWeightedLoss
from .optimizers import build_jax_optimizer
from .run_state import JaxRunResult, TrainerState
from .simulator import JaxSOEN
from .train_step import Alignment, StepFunctions, as_weight_arrays, tree_mean

log = logging.getLogger("soen_train.jax")

def validation_metric_names(cfg: Any) -> List[str]:
    """Metrics available at validation end (what schedules and the objective may monitor)."""
    names = ["val_loss", *[f"val_{m}" for m in cfg.logging.metrics]]
    terms = [item.name for item in cfg.training.loss.losses]
    if len(terms) > 1:
        names += [f"val_loss/{name}" for name in terms]
    return names


class JaxTrainer:
    """Trains a ``SOENModel``'s JAX twin for one repeat of a ``SOENTrainConfig``."""

    def __init__(
        self, cfg: Any, paths: Any, datamodule: Any, model: Any, loggers: Optional[List[Any]] = None
    ) -> None:
        import dataclasses

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
        self.base_scale = float(pooling_params.pop("scale", 1.0))
        if t.mapping == "seq2static":
            from soen_train.training.time_pooling import validate_pooling

            validate_pooling(pooling.name, {**pooling_params, "scale": self.base_scale})
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
        self._build_schedules()

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

    def _build_schedules(self) -> None:
        from soen_train.training.loss_weight_schedules import LossWeightSchedule
        from soen_train.training.lr_schedules import build_lr_schedule

        cfg, t = self.cfg, self.cfg.training
        self.train_batches_total = len(self.dm.train_dataloader())
        limit = batch_limit(t.limit_train_batches, self.train_batches_total)
        self.train_limit = limit
        batches = limit if limit is not None else self.train_batches_total
        self.steps_per_epoch = max(1, math.ceil(batches / self.accumulate))
        params = dict(cfg.callbacks.lr_scheduler or {"type": "constant"})
        kind = params.pop("type", "constant")
        self.lr_schedule = build_lr_schedule(
            kind,
            params,
            base_lr=float(t.optimizer.lr),
            steps_per_epoch=self.steps_per_epoch,
            max_epochs=int(t.max_epochs),
            available_metrics=validation_metric_names(cfg),
        )
        self.weight_schedules: List[Tuple[str, Any]] = []
        for index, entry in enumerate(cfg.callbacks.loss_weight_schedulers or []):
            schedule = LossWeightSchedule.from_config(entry, index)
            key = self.loss.resolve_key(schedule.loss_name)
            if key in [k for k, _ in self.weight_schedules]:
                raise ValueError(
                    f"callbacks.loss_weight_schedulers[{index}]: loss '{key}' already has a "
                    "schedule"
                )
            self.weight_schedules.append((key, schedule))
        self.scale_schedule = None
        ps = cfg.callbacks.time_pooling_scale_scheduler
        if ps.active:
            from soen_train.training.callbacks.pooling_scale_scheduler import (
                TimePoolingScaleScheduler,
            )

            if t.mapping != "seq2static":
                raise JaxUnsupportedError(
                    "callbacks.time_pooling_scale_scheduler.active=true needs "
                    "training.mapping=seq2static (there is no pooling in seq2seq)"
                )
            self.scale_schedule = TimePoolingScaleScheduler(
                ps.start_scale,
                ps.end_scale,
                ps.start_epoch,
                ps.end_epoch,
                setting="callbacks.time_pooling_scale_scheduler",
            )
        self.seq_len_schedule = None
        sl = cfg.callbacks.seq_len_scheduler
        if sl.active:
            from soen_train.training.callbacks.seq_len_scheduler import TargetSeqLenScheduler

            start = sl.start_len if sl.start_len is not None else cfg.data.target_seq_len
            if start is None or sl.end_len is None:
                raise JaxUnsupportedError(
                    "callbacks.seq_len_scheduler: set start_len (or data.target_seq_len) and "
                    "end_len"
                )
            self.seq_len_schedule = TargetSeqLenScheduler(
                start,
                sl.end_len,
                sl.start_epoch,
                sl.end_epoch,
                scale_dt=False,
                setting="callbacks.seq_len_scheduler",
            )

    # ------------------------------------------------------------------ schedules
    def _scale_at(self, epoch: int) -> float:
        """Pooling scale of an epoch (the torch scheduler's ramp, or the configured scale)."""
        if self.scale_schedule is None:
            return self.base_scale
        return self.scale_schedule.scale_at(epoch, int(self.cfg.training.max_epochs))

    def _seq_len_at(self, epoch: int) -> int:
        """Sequence length of an epoch (the torch scheduler's ramp, rounded half up)."""
        return self.seq_len_schedule.length_at(epoch, int(self.cfg.training.max_epochs))

    def _loss_weights(self, epoch: int) -> Dict[str, float]:
        weights = dict(self.loss.weights)
        max_epochs = int(self.cfg.training.max_epochs)
        for key, schedule in self.weight_schedules:
            weights[key] = schedule.weight_at(
                self.state.global_step, epoch, self.steps_per_epoch, max_epochs
            )
        return weights

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
        log_freq = max(1, int(self.cfg.logging.log_freq))
        sums: Dict[str, float] = {}
        count = 0
        outputs: List[np.ndarray] = []
        targets: List[np.ndarray] = []
        pending: List[Any] = []
        scale_arr = jnp.asarray(scale, dtype=jnp.float32)
        loader = self.dm.train_dataloader()
        set_loader_epoch(loader, epoch)
        n_batches = len(loader) if self.train_limit is None else min(len(loader), self.train_limit)
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
            bs = x.shape[0]
            count += bs
            sums["train_loss"] = sums.get("train_loss", 0.0) + total_f * bs
            if len(terms) > 1:
                for name, value in terms.items():
                    sums[f"train_loss/{name}"] = (
                        sums.get(f"train_loss/{name}", 0.0) + float(value) * bs
                    )
            if self.metric_names and tgt is not None:
                outputs.append(np.asarray(out))
                targets.append(np.asarray(tgt))
            last = index == n_batches - 1
            if len(pending) == self.accumulate or last:
                lr = float(self.lr_schedule.lr_at(self.state.global_step))
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
                if self.state.global_step % log_freq == 0:
                    scheduled = {
                        f"callbacks/loss_weight_{k}": current[k] for k, _ in self.weight_schedules
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
            bs = x.shape[0]
            count += bs
            sums[f"{stage}_loss"] = sums.get(f"{stage}_loss", 0.0) + float(total) * bs
            if len(terms) > 1:
                for name, value in terms.items():
                    sums[f"{stage}_loss/{name}"] = (
                        sums.get(f"{stage}_loss/{name}", 0.0) + float(value) * bs
                    )
            if self.metric_names and tgt is not None:
                outputs.append(np.asarray(out))
                targets.append(np.asarray(tgt))
        if count == 0:
            return {}
        row = {k: v / count for k, v in sums.items()}
        row.update(self._metrics(stage, outputs, targets))
        return row

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
    def _params(self, trainable: Optional[Any] = None) -> Dict[str, Any]:
        return {**(self.trainable if trainable is None else trainable), **self.frozen}

    def _write_checkpoint(self, path: Path) -> Path:
        leaves, treedef = jax.tree_util.tree_flatten(self.opt_state)
        params = {k: np.asarray(v) for k, v in self._params().items()}
        self.state.lr_schedule = {
            "type": getattr(self.lr_schedule, "name", ""),
            "state": self.lr_schedule.state_dict(),
        }
        ckpt = JaxCheckpoint(
            params=params,
            spec=self.jax_model.spec,
            trainable=sorted(self.jax_model.trainable),
            epoch=self.state.epoch,
            global_step=self.state.global_step,
            opt_leaves=[np.asarray(leaf) for leaf in leaves],
            opt_structure=str(treedef),
            trainer_state=self.state.to_dict(),
        )
        save_checkpoint(path, ckpt)
        self._write_soen(params, soen_path_for(path))
        return path

    def _write_soen(self, params: Dict[str, Any], target: Path) -> None:
        """Write ``params`` as a torch ``.soen`` (a copy of the model with the JAX weights)."""
        model = copy.deepcopy(self.torch_model)
        self.jax_model.write_to_torch(params, model)
        model.save(target)

    def _checkpoint_epoch(self, epoch: int, val_loss: Optional[float]) -> None:
        t = self.cfg.training
        ckpt_dir = Path(self.paths.checkpoints)
        every = max(1, int(t.checkpoint_every_n_epochs))
        due = (epoch + 1) % every == 0
        if due and t.checkpoint_save_all_epochs:
            self._write_checkpoint(ckpt_dir / f"epoch={epoch:02d}.jax.npz")
        elif (
            due
            and val_loss is not None
            and math.isfinite(val_loss)
            and int(t.checkpoint_save_top_k) != 0
        ):
            path = ckpt_dir / f"epoch={epoch:02d}-val_loss={val_loss:.4f}.jax.npz"
            k = int(t.checkpoint_save_top_k)
            ranked = sorted(self.state.top_k + [(val_loss, str(path))], key=lambda item: item[0])
            if k < 0 or ranked.index((val_loss, str(path))) < k:
                self._write_checkpoint(path)
                keep, drop = (ranked, []) if k < 0 else (ranked[:k], ranked[k:])
                for _, old in drop:
                    for stale in (Path(old), soen_path_for(old)):
                        if stale.exists():
                            stale.unlink()
                self.state.top_k = keep
        if val_loss is not None and math.isfinite(val_loss) and val_loss < self.state.best_val:
            self.state.best_val = val_loss
            self.state.stale_epochs = 0
            self._write_soen(self._params(), ckpt_dir / "best.soen")
            self.state.best_path = self.state.top_k[0][1] if self.state.top_k else None
        elif val_loss is not None:
            self.state.stale_epochs += 1
        if t.checkpoint_save_last:
            self._write_checkpoint(ckpt_dir / "last.jax.npz")

    # ------------------------------------------------------------------ resume
    def restore(self, path: str) -> None:
        """Continue from a JAX checkpoint: weights, optimiser, epoch, step, schedules, history.

        ``path`` is one of our ``*.jax.npz`` checkpoints, or an original toolkit ``.pkl``
        (read with the restricted unpickler). A checkpoint without optimiser state (migrated
        from a ``.pkl``, or the ``.pkl`` itself) restores weights, epoch and step, and starts
        the optimiser afresh with one warning.
        """
        if str(path).endswith(".pkl"):
            from .original_checkpoint import migrate_in_memory

            ckpt = migrate_in_memory(path, fallback_model=self.torch_model).checkpoint
        elif is_jax_checkpoint(path):
            ckpt = load_checkpoint(path)
        else:
            raise JaxCheckpointError(
                f"training.train_from_checkpoint={path!r}: the JAX backend resumes from its own "
                "'*.jax.npz' checkpoints or the original toolkit's JAX '.pkl' (a torch .ckpt "
                "cannot continue under JAX)"
            )
        mismatch = same_architecture(ckpt.spec, self.jax_model.spec)
        if mismatch:
            raise JaxCheckpointError(
                f"{path}: the checkpoint's architecture differs from the configured model "
                f"({mismatch}); "
                "resume with the same architecture, or start a new run from its .soen via "
                "model.base_model_path"
            )
        names = set(self._params())
        if set(ckpt.params) != names:
            raise JaxCheckpointError(
                f"{path}: parameters {sorted(set(ckpt.params) ^ names)} do not match the model's"
            )
        restored = {k: jnp.asarray(v) for k, v in ckpt.params.items()}
        self.trainable, self.frozen = self.jax_model.split(restored)
        if ckpt.opt_leaves:
            self.opt_state = self._restored_opt_state(path, ckpt)
        else:
            self.opt_state = self.optimizer.init(self.trainable)
            log.warning(
                "%s holds no optimiser state (migrated from the original's .pkl): weights, epoch "
                "%d and step %d restored, optimiser %s freshly initialised",
                path, ckpt.epoch, ckpt.global_step, self.cfg.training.optimizer.name,
            )
        self.state = TrainerState.from_checkpoint(ckpt)
        saved = self.state.lr_schedule
        if saved and saved.get("type") == getattr(self.lr_schedule, "name", None):
            self.lr_schedule.load_state_dict(saved.get("state", {}))

    def _restored_opt_state(self, path: str, ckpt: JaxCheckpoint) -> Any:
        """The checkpoint's optimiser state in this run's optax tree (same setup required)."""
        leaves, treedef = jax.tree_util.tree_flatten(self.opt_state)
        if len(leaves) != len(ckpt.opt_leaves) or str(treedef) != ckpt.opt_structure:
            raise JaxCheckpointError(
                f"{path}: the optimiser state was written by a different optimiser setup "
                f"({len(ckpt.opt_leaves)} arrays, this run has {len(leaves)}); resume with the "
                "same training.optimizer settings"
            )
        for old, new in zip(leaves, ckpt.opt_leaves):
            if tuple(np.shape(old)) != tuple(new.shape):
                raise JaxCheckpointError(f"{path}: optimiser state shapes do not match this model")
        return jax.tree_util.tree_unflatten(treedef, [jnp.asarray(v) for v in ckpt.opt_leaves])

    # ------------------------------------------------------------------ fit / test
    def fit(self) -> JaxRunResult:
        """Train up to ``training.max_epochs`` (or until early stopping / pruning)."""
        from soen_train.training.trainer_factory import MetricsHistory

        t = self.cfg.training
        if t.train_from_checkpoint:
            self.restore(str(t.train_from_checkpoint))
        elif t.save_initial_state:
            self._write_checkpoint(Path(self.paths.checkpoints) / "initial.jax.npz")
        trial = _current_trial()
        started = time.perf_counter()
        val_limit = None
        for epoch in range(self.state.epoch, int(t.max_epochs)):
            if self.seq_len_schedule is not None:
                length = self._seq_len_at(epoch)
                self.dm.set_target_seq_len(length)
                self._log({"callbacks/target_seq_len": float(length)}, self.state.global_step)
            scale = self._scale_at(epoch)
            if self.scale_schedule is not None:
                self._log({"callbacks/time_pooling_scale": scale}, self.state.global_step)
            row = self._train_epoch(epoch, scale)
            val_loader = self._loader("val")
            if val_loader is not None:
                if val_limit is None:
                    val_limit = batch_limit(t.limit_val_batches, len(val_loader))
                row.update(self._evaluate_split(val_loader, "val", scale, val_limit))
            row["epoch"] = float(epoch)
            step = max(self.state.global_step - 1, 0)
            self._log(row, step)
            self.state.epoch = epoch + 1
            val_loss = row.get("val_loss")
            self.state.history.append(
                {k: v for k, v in row.items() if k.startswith("val_") or k == "epoch"}
            )
            if val_loss is not None and self.lr_schedule.stateful:
                self.lr_schedule.on_validation_end(row, step=self.state.global_step)
            self._checkpoint_epoch(epoch, val_loss)
            if trial is not None:
                _report_to_trial(trial, t.objective_metric, row, epoch)
            patience = t.early_stopping_patience
            if patience and self.state.stale_epochs >= int(patience):
                log.info(
                    "early stopping after epoch %d (val_loss did not improve for %d epochs)",
                    epoch,
                    patience,
                )
                break
        history = MetricsHistory()
        history.epochs = [dict(r) for r in self.state.history]
        result = JaxRunResult(
            metrics=history.summary(),
            best_checkpoint=self.state.top_k[0][1] if self.state.top_k else None,
            last_checkpoint=str(Path(self.paths.checkpoints) / "last.jax.npz")
            if t.checkpoint_save_last
            else None,
            compile_seconds=self.compile_seconds,
            train_seconds=time.perf_counter() - started,
        )
        return result

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
        scale = self._scale_at(max(self.state.epoch - 1, 0))
        row = self._evaluate_split(loader, "test", scale, params=params)
        self._log(row, self.state.global_step)
        return row

    def finalize(self, status: str = "success") -> None:
        """Flush and close the loggers."""
        for logger in self.loggers:
            logger.finalize(status)


def _current_trial() -> Any:
    from soen_train.sweeps.trial_context import current_trial

    trial = current_trial()
    if trial is None or getattr(trial, "is_multi_objective", False):
        return None
    return trial


def _report_to_trial(trial: Any, metric: str, row: Dict[str, float], epoch: int) -> None:
    """Report this epoch's objective metric; raise optuna.TrialPruned if the pruner says so."""
    if metric not in row:
        raise KeyError(
            f"training.objective_metric={metric!r} was not logged at validation; "
            f"logged: {sorted(row)}"
        )
    value = float(row[metric])
    trial.report(value, epoch)
    if trial.should_prune():
        import optuna

        raise optuna.TrialPruned(
            f"trial {trial.number} pruned at epoch {epoch} ({metric}={value:.6g})"
        )


def default_loggers(cfg: Any, paths: Any) -> List[Any]:
    """The torch runner's loggers for this repeat (TensorBoard in logs/repeat_<k>, MLflow)."""
    from soen_train.training.runner import flat_hparams
    from soen_train.training.trainer_factory import build_loggers

    seed = int(cfg.seed) + int(paths.repeat)
    return build_loggers(cfg, paths, seed, None, flat_hparams(cfg))


def train_jax_repeat(
    cfg: Any,
    repeat: int,
    paths: Any,
    datamodule: Any,
    model: Any,
    loggers: Optional[List[Any]] = None,
) -> JaxRunResult:
    """Train and test one repeat with the JAX backend; metrics include the test figures.

    Without ``loggers`` the runner's loggers are built here (TensorBoard/MLflow per
    ``cfg.logging``) and finalised at the end; loggers passed in belong to the caller, who
    finalises them (e.g. after uploading artefacts).
    """
    del repeat  # the seed already shaped ``model`` and ``datamodule``; paths name the repeat
    own = loggers is None
    trainer = JaxTrainer(
        cfg, paths, datamodule, model, loggers=default_loggers(cfg, paths) if own else loggers
    )
    status = "failed"
    try:
        result = trainer.fit()
        result.metrics.update(trainer.test(result))
        status = "success"
        return result
    finally:
        if own:
            trainer.finalize(status)
        else:
            for logger in trainer.loggers:
                save = getattr(logger, "save", None)
                if callable(save):
                    save()


def run_jax_repeat(
    cfg: Any,
    repeat: int,
    paths: Any,
    datamodule: Any,
    model: Any,
    loggers: Optional[List[Any]] = None,
) -> Dict[str, float]:
    """Train one repeat with ``training.backend=jax``; returns its metrics (runner contract)."""
    return dict(train_jax_repeat(cfg, repeat, paths, datamodule, model, loggers).metrics)
