"""Assembles the Lightning Trainer of a repeat: callbacks, loggers, profiler, plugins."""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional, Tuple

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback

from soen_train.config.schema import SOENTrainConfig
from soen_train.loop_policy import checkpoint_rule
from soen_train.loop_policy.metric_history import summarise_history, validation_row
from soen_train.training.checkpointing import (
    AtomicCheckpointIO,
    InitialStateSaver,
    PreemptionCheckpoint,
    SOENModelCheckpoint,
)
from soen_train.training.early_stopping import SOENEarlyStopping
from soen_train.training.run_paths import RunPaths


class MetricsHistory(Callback):
    """Keeps every validation metric per epoch; `summary()` gives the best value of each
    (the rows and the summary follow ``loop_policy.metric_history``, as in the JAX loop)."""

    def __init__(self) -> None:
        self.epochs: List[Dict[str, float]] = []

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # after the module's epoch-end hook, so its epoch metrics (val_accuracy) are included
        if trainer.sanity_checking:
            return
        scalars = {k: v for k, v in trainer.callback_metrics.items()
                   if getattr(v, "numel", lambda: 1)() == 1}
        self.epochs.append(validation_row(scalars, trainer.current_epoch))

    def summary(self) -> Dict[str, float]:
        """Best value over epochs of each val metric (min for losses, max otherwise) and finals."""
        return summarise_history(self.epochs)

    def state_dict(self) -> Dict[str, Any]:
        return {"epochs": self.epochs}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        self.epochs = list(state_dict.get("epochs", []))


def build_callbacks(
    cfg: SOENTrainConfig, paths: RunPaths, module: pl.LightningModule, seed: Optional[int] = None
) -> Tuple[List[Callback], Optional[SOENModelCheckpoint], MetricsHistory]:
    """Checkpoints, early stopping, LR and loss-weight schedules, the dynamic and monitoring
    callbacks the config switches on, Optuna pruning, and the metrics history."""
    from soen_train.training.callbacks.factory import build_dynamic_callbacks

    t = cfg.training
    history = MetricsHistory()
    callbacks: List[Callback] = [history]
    if t.save_initial_state:
        callbacks.append(InitialStateSaver(paths.checkpoints, t.save_soen_core_in_checkpoint))
    if t.checkpoint_save_all_epochs:
        checkpoint = SOENModelCheckpoint(
            dirpath=paths.checkpoints, filename=checkpoint_rule.ALL_EPOCHS_FILENAME,
            auto_insert_metric_name=False, save_top_k=-1, every_n_epochs=t.checkpoint_every_n_epochs,
            save_last=t.checkpoint_save_last, soen_sidecars=t.save_soen_core_in_checkpoint,
            monitor=checkpoint_rule.MONITOR, mode=checkpoint_rule.MODE,
        )
    else:
        checkpoint = SOENModelCheckpoint(
            dirpath=paths.checkpoints, filename=checkpoint_rule.TOP_K_FILENAME,
            auto_insert_metric_name=False, monitor=checkpoint_rule.MONITOR, mode=checkpoint_rule.MODE,
            save_top_k=t.checkpoint_save_top_k, save_last=t.checkpoint_save_last,
            every_n_epochs=t.checkpoint_every_n_epochs, soen_sidecars=t.save_soen_core_in_checkpoint,
        )
    callbacks.append(checkpoint)
    callbacks.append(PreemptionCheckpoint(paths.checkpoints))
    if t.early_stopping_patience:
        callbacks.append(SOENEarlyStopping(monitor=checkpoint_rule.MONITOR, mode=checkpoint_rule.MODE,
                                           patience=t.early_stopping_patience))
    callbacks.append(lr_scheduler_callback(cfg))
    callbacks.extend(loss_weight_callbacks(cfg, module))
    callbacks.extend(build_dynamic_callbacks(cfg, module, seed=seed))
    callbacks.extend(_sweep_callbacks(cfg))
    return callbacks, checkpoint, history


def validation_metric_names(cfg: SOENTrainConfig) -> List[str]:
    """Every metric logged at validation end (what schedules and objectives may monitor)."""
    from soen_train.training.losses import WeightedLoss

    names = ["val_loss", *[f"val_{m}" for m in cfg.logging.metrics]]
    terms = WeightedLoss([dataclasses.asdict(i) for i in cfg.training.loss.losses]).term_names
    if len(terms) > 1:
        names += [f"val_loss/{name}" for name in terms]
    return names


def lr_scheduler_callback(cfg: SOENTrainConfig) -> Callback:
    """The LR schedule of `callbacks.lr_scheduler` as a checkpointed callback."""
    from soen_train.training.lr_schedules import LRSchedulerCallback

    params = dict(cfg.callbacks.lr_scheduler)
    schedule_type = params.pop("type", "constant")
    return LRSchedulerCallback(schedule_type, params, available_metrics=validation_metric_names(cfg))


def loss_weight_callbacks(cfg: SOENTrainConfig, module: pl.LightningModule) -> List[Callback]:
    """The loss-weight schedules of `callbacks.loss_weight_schedulers` (names checked now)."""
    if not cfg.callbacks.loss_weight_schedulers:
        return []
    from soen_train.training.loss_weight_schedules import LossWeightSchedulerCallback

    entries = [dataclasses.asdict(e) for e in cfg.callbacks.loss_weight_schedulers]
    return [LossWeightSchedulerCallback(entries, module.loss)]


def _sweep_callbacks(cfg: SOENTrainConfig) -> List[Callback]:
    """The Optuna pruning callback when this job is a trial of an Optuna sweep."""
    from soen_train.sweeps.trial_context import current_trial

    if current_trial() is None:
        return []
    from soen_train.sweeps.pruning import OptunaPruningCallback

    return [OptunaPruningCallback(monitor=cfg.training.objective_metric)]


def flat_hparams(cfg: SOENTrainConfig) -> Dict[str, Any]:
    """The whole config, secrets masked, flattened to `section.key` params (what loggers record)."""
    from soen_train.config.secrets import redact
    from soen_train.tracking.mlflow_runs import flatten

    return flatten(redact(dataclasses.asdict(cfg)))


def build_loggers(
    cfg: SOENTrainConfig, paths: RunPaths, seed: int, sweep: Any, hparams: Dict[str, Any],
    resume_run_id: Optional[str] = None,
) -> List[Any]:
    """TensorBoard events in logs/repeat_k and/or an MLflow run (nested under a sweep's parent).

    ``resume_run_id`` (from a resumed checkpoint) continues that MLflow run instead of a new one."""
    lg = cfg.logging
    loggers: List[Any] = []
    if lg.tensorboard_active:
        from lightning.pytorch.loggers import TensorBoardLogger

        tb = TensorBoardLogger(
            save_dir=str(paths.logs.parent), name="", version=paths.name, default_hp_metric=False
        )
        tb.log_hyperparams(hparams)
        loggers.append(tb)
    if lg.mlflow_active:
        loggers.append(_mlflow_logger(cfg, paths, seed, sweep, hparams, resume_run_id))
    return loggers


def _mlflow_logger(cfg: SOENTrainConfig, paths: RunPaths, seed: int, sweep: Any, hparams: Dict[str, Any],
                   resume_run_id: Optional[str] = None) -> Any:

    from soen_train.config.secrets import redact
    from soen_train.tracking.mlflow_runs import (
        continue_run,
        end_orphaned_runs,
        ensure_store,
        export_credentials,
        local_artifact_location,
        new_params,
        process_tags,
        resolve_tracking_uri,
        run_display_name,
        sweep_parent_run,
        trial_tags,
    )
    from soen_train.training.run_paths import distributed_rank

    lg = cfg.logging
    export_credentials(lg.mlflow_username, lg.mlflow_password)
    uri = resolve_tracking_uri(lg.mlflow_tracking_uri, paths.project_root)
    experiment = lg.mlflow_experiment_name or lg.experiment_name or lg.project_name
    tags = {
        **{str(k): str(v) for k, v in redact(dict(lg.mlflow_tags)).items()},  # secret-named tags masked
        "project": lg.project_name,
        "experiment": lg.experiment_name or "default_experiment",
        "group": lg.group_name,
        "repeat": str(paths.repeat),
        "seed": str(seed),
        **trial_tags(),
        **process_tags(),
    }
    from soen_train.tracking.mlflow_fallback import (
        ResilientMLFlowLogger,
        local_fallback_logger,
        tracking_server_problem,
    )

    problem = tracking_server_problem(uri)
    if problem:  # server down: train on, the run's params and metrics go to a local file
        offline = local_fallback_logger(paths.logs, experiment, lg.mlflow_run_name or paths.name, uri,
                                        tags, hparams, problem)
        offline.soen_log_artifacts = lg.mlflow_log_artifacts
        return offline
    ensure_store(uri)
    if distributed_rank() == 0:
        end_orphaned_runs(uri, experiment)
    run_id = resume_run_id if resume_run_id and distributed_rank() == 0 and continue_run(uri, resume_run_id) else None
    if run_id:  # the resumed checkpoint's run goes on: same id, metrics continue at their steps
        logger = ResilientMLFlowLogger(experiment_name=experiment, tracking_uri=uri, run_id=run_id,
                                       offline_dir=paths.logs)
        logger.log_hyperparams(new_params(uri, run_id, hparams))
        logger.soen_log_artifacts = lg.mlflow_log_artifacts
        return logger
    if sweep is not None and sweep.sweep_dir is not None:
        tags["mlflow.parentRunId"] = sweep_parent_run(
            uri, experiment, sweep.sweep_dir, {"project": lg.project_name},
            local_artifact_location(uri, paths.project_root),
        )
        tags["job"] = str(sweep.job_num)
    run_name = lg.mlflow_run_name or run_display_name(
        lg.experiment_name or "default_experiment", lg.group_name,
        getattr(sweep, "overrides", []), paths.name,
        sweep.job_num if sweep is not None else None,
    )
    logger = ResilientMLFlowLogger(
        experiment_name=experiment, run_name=run_name, tracking_uri=uri, tags=tags, offline_dir=paths.logs,
        artifact_location=local_artifact_location(uri, paths.project_root),
    )
    logger.log_hyperparams(hparams)
    logger.soen_log_artifacts = lg.mlflow_log_artifacts
    return logger


def _profiler(cfg: SOENTrainConfig, paths: RunPaths) -> Any:
    p = cfg.profiler
    if not p.active:
        return None
    from lightning.pytorch.profilers import AdvancedProfiler, PyTorchProfiler, SimpleProfiler

    filename = p.output_filename or f"{p.type}_profile"
    if p.type == "simple":
        return SimpleProfiler(dirpath=str(paths.logs), filename=filename)
    if p.type == "advanced":
        return AdvancedProfiler(dirpath=str(paths.logs), filename=filename)
    return PyTorchProfiler(
        dirpath=str(paths.logs), filename=filename, record_shapes=p.record_shapes,
        profile_memory=p.profile_memory, with_stack=p.with_stack,
    )


def build_trainer(
    cfg: SOENTrainConfig, paths: RunPaths, callbacks: List[Callback], loggers: List[Any]
) -> pl.Trainer:
    """The pl.Trainer for a repeat, from the `training`, `logging` and `profiler` sections."""
    t, p = cfg.training, cfg.profiler
    if any(hasattr(lgr, "flush_metrics") for lgr in loggers):  # a logger that sends in batches
        from soen_train.tracking.mlflow_fallback import MetricsFlush

        callbacks = [*callbacks, MetricsFlush()]
    kwargs: Dict[str, Any] = dict(
        max_epochs=t.max_epochs,
        accelerator=t.accelerator,
        devices=t.devices,
        num_nodes=t.num_nodes,
        strategy=t.strategy,
        precision=t.precision,
        deterministic=t.deterministic,
        accumulate_grad_batches=t.accumulate_grad_batches,
        # with TBPTT the module steps (and clips) per chunk itself
        gradient_clip_val=None if t.use_tbptt else t.gradient_clip_val,
        gradient_clip_algorithm=None if t.use_tbptt else t.gradient_clip_algorithm,
        log_every_n_steps=cfg.logging.log_freq,
        callbacks=[*callbacks, _progress_bar()] if cfg.logging.progress_bar else callbacks,
        logger=loggers or False,
        enable_progress_bar=cfg.logging.progress_bar,
        enable_model_summary=False,
        plugins=[AtomicCheckpointIO()],
        num_sanity_val_steps=0,
        # the datamodule shards its own batches under DDP (soen_train/data/sampling.py):
        # Lightning's sampler would repeat validation samples to even out the shards
        use_distributed_sampler=False,
    )
    from soen_train.training.callbacks.factory import trainer_settings

    kwargs.update(trainer_settings(cfg))
    if t.limit_train_batches is not None:
        kwargs["limit_train_batches"] = _limit(t.limit_train_batches)
    if t.limit_val_batches is not None:
        kwargs["limit_val_batches"] = _limit(t.limit_val_batches)
    if t.overfit_batches is not None:
        kwargs["overfit_batches"] = _limit(t.overfit_batches)
    if p.active:
        kwargs["profiler"] = _profiler(cfg, paths)
        if p.num_train_batches:
            kwargs["limit_train_batches"] = p.num_train_batches
        if p.num_val_batches:
            kwargs["limit_val_batches"] = p.num_val_batches
    return pl.Trainer(**kwargs)


def _progress_bar() -> Callback:
    from soen_train.training.progress_bar import CompactProgressBar

    return CompactProgressBar()


def _limit(value: Any) -> Any:
    """Lightning's reading: an int counts batches (1 = one batch), a float <= 1 is a fraction."""
    if isinstance(value, int):
        return value
    return int(value) if value > 1 else float(value)
