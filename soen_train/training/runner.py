"""Runs one soen-train job: N repeats of seed -> data -> model -> fit -> test, and its objective.

Plain Python + Lightning (no Hydra): the CLI hands over a validated `SOENTrainConfig`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import pickle
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import lightning.pytorch as pl
import torch
from lightning.pytorch.utilities.exceptions import SIGTERMException

from soen_train.config.errors import ConfigError
from soen_train.config.loading import save_job_config
from soen_train.config.schema import SOENTrainConfig
from soen_train.config.secrets import redact_yaml_file
from soen_train.errors import RunInterrupted
from soen_train.run_record import build_run_record, log_run_record, write_run_record
from soen_train.training.checkpointing import (
    PreemptionCheckpoint,
    RunIdentity,
    changed_keys,
    describe_changes,
    read_run_identity,
    state_shaping,
)
from soen_train.training.datamodule_factory import build_datamodule
from soen_train.training.result_file import write_result, write_result_if_possible
from soen_train.training.run_paths import RunPaths, distributed_rank
from soen_train.training.storage_faults import storage_fault
from soen_train.training.trainer_factory import (
    build_callbacks,
    build_loggers,
    build_trainer,
    flat_hparams,
)

log = logging.getLogger("soen_train")


class _DropAdverts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "Tip:" not in str(record.msg)


def quiet_lightning() -> None:
    """One copy of each Lightning message (through the job's log handlers), no adverts, and
    none of the warnings that do not apply to in-memory SOEN datasets."""
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_DropAdverts())
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*isinstance.treespec, LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*Checkpoint directory .* exists and is not empty.*")


@dataclass
class SweepInfo:
    """Where this job sits in a multirun (None outside one)."""

    sweep_dir: Optional[Path] = None
    job_num: Optional[int] = None
    overrides: List[str] = field(default_factory=list)  # the job's command-line overrides


@dataclass
class RepeatResult:
    """What one repeat reports: its seed, best and final metrics, and where it wrote."""

    repeat: int
    seed: int
    metrics: Dict[str, float] = field(default_factory=dict)
    best_checkpoint: Optional[str] = None
    train_seconds: float = 0.0
    mlflow_run_id: Optional[str] = None
    checkpoints_dir: Optional[str] = None
    logs_dir: Optional[str] = None
    #: which loop trained it: "fast" (training/fast_loop.py), "jax", or "lightning: <why>"
    training_loop: str = ""


def objective_direction(metric: str, direction: str) -> str:
    """`minimize` or `maximize` for a job's objective (the shared rule of metric_direction;
    a bookkeeping number chosen as objective is maximised)."""
    from soen_train.tracking.metric_direction import metric_direction

    return metric_direction(metric, direction) or "maximize"


def build_module(cfg: SOENTrainConfig, model: torch.nn.Module, seq_len: Optional[int] = None) -> pl.LightningModule:
    """The Lightning module for a config and a built model."""
    from soen_train.training.module import SOENLightningModule, tbptt_chunk_count
    from soen_train.training.time_pooling import validate_pooling

    t, m = cfg.training, cfg.model
    if t.mapping == "seq2static":
        validate_pooling(m.time_pooling.name, dict(m.time_pooling.params))
    module = SOENLightningModule(
        model=model,
        losses=[dataclasses.asdict(item) for item in t.loss.losses],
        mapping=t.mapping,
        paradigm=t.paradigm,
        pooling_name=m.time_pooling.name,
        pooling_params=dict(m.time_pooling.params),
        optimizer=dataclasses.asdict(t.optimizer),
        metrics=list(cfg.logging.metrics) if t.paradigm == "supervised" else [],
        log_freq=cfg.logging.log_freq,
        alternate_losses=t.alternate_losses,
        batches_per_loss=t.batches_per_loss,
        tbptt_steps=t.tbptt_steps if t.use_tbptt else None,
        tbptt_stride=t.tbptt_stride if t.use_tbptt else None,
        gradient_clip_val=t.gradient_clip_val,
        gradient_clip_algorithm=t.gradient_clip_algorithm,
        fast_loop=t.fast_loop,
    )
    if t.use_tbptt and seq_len:
        module.optimizer_steps_per_batch = tbptt_chunk_count(seq_len, t.tbptt_steps, t.tbptt_stride or t.tbptt_steps)
    return module


def run_repeat(cfg: SOENTrainConfig, repeat: int, sweep: SweepInfo) -> RepeatResult:
    """Train and test one repeat with seed = cfg.seed + repeat."""
    from soen_train.training.model_factory import build_model, check_model_fits_data

    seed = cfg.seed + repeat
    pl.seed_everything(seed, workers=True, verbose=False)
    lg = cfg.logging
    paths = RunPaths.create(
        lg.project_dir, lg.project_name, lg.experiment_name or "default_experiment", lg.group_name,
        repeat, resume_from=cfg.training.train_from_checkpoint,
    )
    if distributed_rank() == 0:
        save_job_config(cfg, paths.checkpoints)
    dm = build_datamodule(cfg, seed, paths.logs)
    dm.setup("fit")
    torch.manual_seed(seed)  # model init draws from the seeded RNG, whatever the data setup used
    model = build_model(
        cfg.model.base_model_path,
        cfg.model.load_exact_model_state,
        cfg.model.architecture_yaml,
        cfg.model.architecture,
        seed=seed,
        dt=cfg.model.dt,
        dt_learnable=cfg.model.dt_learnable,
    )
    class_labels = dm.label_kind in ("class", "seq_class")
    check_model_fits_data(model, dm.input_dim, dm.num_classes if class_labels else None, cfg.training.mapping)
    hparams = flat_hparams(cfg)
    resume = cfg.training.train_from_checkpoint
    identity = _resume_identity(resume, hparams) if cfg.training.backend != "jax" else {}
    loggers = build_loggers(cfg, paths, seed, sweep, hparams, resume_run_id=identity.get("mlflow_run_id"))
    if cfg.training.backend == "jax":
        return _run_jax_repeat(cfg, repeat, seed, paths, dm, model, loggers)
    try:
        return _fit_and_test(cfg, repeat, seed, paths, dm, model, loggers, hparams, identity)
    except BaseException:
        _fail_loggers(loggers)  # whatever went wrong, the MLflow run does not stay RUNNING
        raise


def _resume_identity(resume: Optional[str], hparams: Dict[str, Any]) -> Dict[str, Any]:
    """The run identity stored in the checkpoint being resumed ({} without a resume).

    A change of a key that shapes the saved state (optimiser, architecture, mapping) is one
    ConfigError naming every key that differs; other changes are logged once."""
    if not resume:
        return {}
    if not Path(resume).is_file():
        raise ConfigError(f"training.train_from_checkpoint: file not found: {resume}")
    try:
        identity = read_run_identity(resume)
    except pickle.UnpicklingError as err:
        raise ConfigError(
            f"training.train_from_checkpoint: refused to load {resume}: it holds objects other than "
            f"tensors and plain containers, so unpickling it could run code ({str(err).splitlines()[0]})"
        ) from None
    except Exception as err:  # noqa: BLE001  (truncated or foreign file)
        raise ConfigError(
            f"training.train_from_checkpoint: {resume} is not a readable checkpoint "
            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
        ) from None
    stored = identity.get("config") or {}
    if stored:
        keys = changed_keys(stored, hparams)
        blocking = state_shaping(keys)
        if blocking:
            raise ConfigError(
                f"training.train_from_checkpoint={resume} was trained with another config: "
                f"{describe_changes(stored, hparams, keys)}; the saved state cannot be restored "
                f"with changed {', '.join(blocking)}: resume with the checkpoint's values or start fresh"
            )
        if keys:
            log.info("resuming %s with changed settings: %s", resume, describe_changes(stored, hparams, keys))
    return identity


def _fail_loggers(loggers: List[Any]) -> None:
    """End each logger's run as failed (KILLED when a pre-emption callback said so)."""
    for lgr in loggers:
        try:
            lgr.finalize("failed")
        except Exception as err:  # noqa: BLE001  (the store itself may be what failed)
            log.warning("could not close the %s run (%s)", type(lgr).__name__, err)


def _fit_and_test(cfg: SOENTrainConfig, repeat: int, seed: int, paths: RunPaths, dm: Any,
                  model: torch.nn.Module, loggers: List[Any], hparams: Dict[str, Any],
                  identity: Dict[str, Any]) -> RepeatResult:
    """Fit (or resume) and test one torch repeat; returns what it reports."""
    module = build_module(cfg, model, dm.seq_len)
    log_run_record(loggers, build_run_record(cfg))
    callbacks, checkpoint, history = build_callbacks(cfg, paths, module, seed)
    callbacks.append(RunIdentity(hparams))
    trainer = build_trainer(cfg, paths, callbacks, loggers)
    resume = cfg.training.train_from_checkpoint
    started = time.perf_counter()
    try:  # weights_only: a resumed checkpoint is never allowed to run code while unpickling
        trainer.fit(module, datamodule=dm, ckpt_path=resume, weights_only=True)
    except (SIGTERMException, KeyboardInterrupt, SystemExit):  # pre-empted: Lightning's Ctrl+C path exits
        saved = next((c.saved_path for c in callbacks if isinstance(c, PreemptionCheckpoint) and c.saved_path), None)
        if saved is None:
            raise
        raise RunInterrupted(
            f"interrupted (SIGTERM/SIGINT) at epoch {trainer.current_epoch}, step {trainer.global_step}; "
            f"resumable checkpoint written: {saved}; continue with training.train_from_checkpoint={saved}"
        ) from None
    except pickle.UnpicklingError as err:
        raise ConfigError(
            f"training.train_from_checkpoint: refused to load {resume}: it holds objects other than "
            f"tensors and plain containers, so unpickling it could run code ({str(err).splitlines()[0]})"
        ) from None
    except KeyError as err:
        if not resume:
            raise
        stored = identity.get("config") or {}
        keys = changed_keys(stored, hparams) if stored else []
        what = describe_changes(stored, hparams, keys) if keys else "unknown (checkpoint without a stored config)"
        raise ConfigError(
            f"training.train_from_checkpoint={resume}: its saved state does not fit this config "
            f"(missing {err}); keys that differ: {what}; resume with the checkpoint's config or start fresh"
        ) from None
    train_seconds = time.perf_counter() - started
    loop = module.training_loop
    log.info("repeat %d trained with %s", repeat, "soen-train's fast loop" if loop == "fast" else loop)
    metrics = history.summary()
    test_ckpt = _test_checkpoint(cfg.training.test_checkpoint, checkpoint)
    if _has_test_split(dm):
        for row in trainer.test(module, datamodule=dm, ckpt_path=test_ckpt, verbose=False, weights_only=True):
            metrics.update({k: float(v) for k, v in row.items()})
    best = checkpoint.best_model_path or None if checkpoint else None
    _write_tensorboard_hparams(loggers, hparams, metrics)
    run_id = _close_loggers(loggers, paths)
    return RepeatResult(repeat=repeat, seed=seed, metrics=metrics, best_checkpoint=best,
                        train_seconds=train_seconds, mlflow_run_id=run_id,
                        checkpoints_dir=str(paths.checkpoints), logs_dir=str(paths.logs),
                        training_loop=loop)


def _run_jax_repeat(cfg: SOENTrainConfig, repeat: int, seed: int, paths: RunPaths, dm: Any,
                    model: torch.nn.Module, loggers: List[Any]) -> RepeatResult:
    """The same repeat trained by the JAX backend (same data, model, loggers and layout)."""
    from soen_train.training.jax_loop.repeat import run_jax_repeat

    started = time.perf_counter()
    metrics = run_jax_repeat(cfg, repeat, paths, dm, model, loggers=loggers)
    train_seconds = time.perf_counter() - started
    _write_tensorboard_hparams(loggers, flat_hparams(cfg), dict(metrics))
    run_id = _close_loggers(loggers, paths)
    best = paths.checkpoints / "best.soen"
    return RepeatResult(repeat=repeat, seed=seed, metrics=dict(metrics),
                        best_checkpoint=str(best) if best.exists() else None,
                        train_seconds=train_seconds, mlflow_run_id=run_id,
                        checkpoints_dir=str(paths.checkpoints), logs_dir=str(paths.logs),
                        training_loop="jax")


def _test_checkpoint(choice: str, checkpoint: Any) -> Optional[str]:
    if checkpoint is None:
        return None
    if choice == "best" and checkpoint.best_model_path:
        return checkpoint.best_model_path
    return None  # the weights in memory are the last ones


def _has_test_split(dm: Any) -> bool:
    """True when the data module holds a non-empty test split."""
    return dm.splits.get("test", 0) > 0


def _write_tensorboard_hparams(loggers: List[Any], hparams: Dict[str, Any], metrics: Dict[str, float]) -> None:
    """Fill TensorBoard's HParams tab: the run's settings beside its final metrics (under
    `hparams/<metric>`, so the training curves keep their own tags)."""
    from lightning.pytorch.loggers import TensorBoardLogger

    finals = {f"hparams/{k}": float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
    for lgr in loggers:
        if isinstance(lgr, TensorBoardLogger) and finals:
            lgr.log_hyperparams(hparams, metrics=finals)


def _link_job_folder(result: RepeatResult, job_dir: Path) -> None:
    """`hydra_job` beside the checkpoints points at Hydra's job folder (composed config, logs)."""
    if distributed_rank() > 0 or not result.checkpoints_dir:
        return
    link = Path(result.checkpoints_dir) / "hydra_job"
    try:
        if link.is_symlink():
            link.unlink()
        link.symlink_to(job_dir.resolve(), target_is_directory=True)
    except OSError as err:  # e.g. a file system without symlinks: the report still names both
        log.warning("could not link %s to %s (%s)", link, job_dir, err)


def _print_run_report(cfg: SOENTrainConfig, job_dir: Path, results: List[RepeatResult]) -> None:
    """What the user reads last: test metrics, where every output went, how to open them."""
    from soen_train.tracking.run_report import RepeatOutputs, format_run_report

    lg = cfg.logging
    uri = None
    if lg.mlflow_active:
        from soen_train.tracking.mlflow_runs import resolve_tracking_uri

        root = Path(lg.project_dir).expanduser().resolve() / f"project_{lg.project_name}"
        uri = resolve_tracking_uri(lg.mlflow_tracking_uri, root)
    repeats = [
        RepeatOutputs(
            repeat=r.repeat, metrics=r.metrics, run_dir=Path(r.checkpoints_dir or "."),
            logs_dir=Path(r.logs_dir or "."), best_checkpoint=r.best_checkpoint,
            best_soen=Path(r.checkpoints_dir) / "best.soen" if r.checkpoints_dir else None,
        )
        for r in results
    ]
    print(format_run_report(repeats, job_dir.resolve(), uri), flush=True)


def _close_loggers(loggers: List[Any], paths: RunPaths) -> Optional[str]:
    """Upload best.soen, finalise every logger; the MLflow run id (None without MLflow)."""
    _log_artifacts(loggers, paths)
    run_id = None
    for lgr in loggers:
        lgr.finalize("success")
        run_id = getattr(lgr, "run_id", None) or run_id
    return run_id


def _log_artifacts(loggers: List[Any], paths: RunPaths) -> None:
    """best.soen to the MLflow run; with the server gone, into the local log for the upload."""
    from soen_train.tracking.mlflow_fallback import LocalMLflowLog, ResilientMLFlowLogger

    best = paths.checkpoints / "best.soen"
    for lgr in loggers:
        if (isinstance(lgr, (ResilientMLFlowLogger, LocalMLflowLog)) and best.exists()
                and getattr(lgr, "soen_log_artifacts", True)):
            lgr.log_artifact_file(best)


def aggregate_objective(results: List[RepeatResult], metric: str) -> float:
    """Mean of the objective metric over repeats (NaN when a repeat lacks it)."""
    values = [r.metrics.get(metric, math.nan) for r in results]
    return float(sum(values) / len(values)) if values else math.nan


def _mark_sweep(cfg: SOENTrainConfig, sweep: SweepInfo, results: List[RepeatResult], state: str,
                objective: Optional[float], direction: str) -> None:
    """Tag this job's MLflow runs with their state and mark the sweep's best job."""
    run_ids = [r.mlflow_run_id for r in results if r.mlflow_run_id]
    if sweep.sweep_dir is None or not run_ids or not cfg.logging.mlflow_active:
        return
    from soen_train.tracking.mlflow_runs import mark_sweep_result, resolve_tracking_uri

    lg = cfg.logging
    root = Path(lg.project_dir).expanduser().resolve() / f"project_{lg.project_name}"
    uri = resolve_tracking_uri(lg.mlflow_tracking_uri, root)
    mark_sweep_result(uri, sweep.sweep_dir, run_ids, state, objective, direction, str(sweep.job_num))


def _announce_job_dir(job_dir: Path) -> None:
    """Tell this job's Optuna trial where its result file will be (a resumed sweep reads it)."""
    from soen_train.sweeps.recovery import JOB_DIR_ATTR
    from soen_train.sweeps.trial_context import current_trial

    trial = current_trial()
    if trial is not None:
        trial.set_user_attr(JOB_DIR_ATTR, str(Path(job_dir).resolve()))


def run_job(
    cfg: SOENTrainConfig,
    job_dir: Path,
    overrides: Optional[List[str]] = None,
    sweep: Optional[SweepInfo] = None,
) -> Union[float, List[float]]:
    """Run every repeat of a job, write its result file and return the objective for Hydra.

    One float, or one per metric (objective_metric, then extra_objective_metrics) for a
    multi-objective search; each is the mean over repeats of the metric's best epoch value.
    """
    sweep = sweep or SweepInfo()
    sweep.overrides = list(overrides or [])
    quiet_lightning()
    if cfg.training.backend == "jax":  # refuse torch-only features before any data is built
        from soen_train.jax.config_support import check_jax_config

        check_jax_config(cfg)
    t = cfg.training
    metrics = [t.objective_metric, *t.extra_objective_metrics]
    extra_directions = t.extra_objective_directions or ["auto"] * len(t.extra_objective_metrics)
    directions = [
        objective_direction(m, d)
        for m, d in zip(metrics, [t.objective_direction, *extra_directions])
    ]
    payload: Dict[str, Any] = {
        "objective": None,
        "objective_metric": metrics[0],
        "direction": directions[0],
        "status": "running",
        "error": None,
        "overrides": list(overrides or []),
        "repeats": [],
    }
    if len(metrics) > 1:
        payload.update(objectives=None, objective_metrics=metrics, directions=directions)
    results: List[RepeatResult] = []
    job_dir.mkdir(parents=True, exist_ok=True)
    if distributed_rank() == 0:
        write_run_record(job_dir, build_run_record(cfg, overrides=overrides))
        if sweep.sweep_dir is not None:
            redact_yaml_file(Path(sweep.sweep_dir) / "multirun.yaml")  # Hydra's sweep config
            _announce_job_dir(job_dir)
    try:
        for k in range(t.num_repeats):
            results.append(run_repeat(cfg, k, sweep))
            _link_job_folder(results[-1], job_dir)
            payload["repeats"] = [dataclasses.asdict(r) for r in results]
            write_result(job_dir, payload)
        for metric in metrics:
            if not any(metric in r.metrics for r in results):
                known = sorted({k for r in results for k in r.metrics})
                raise ConfigError(
                    f"objective metric {metric!r} was never logged; logged metrics: {', '.join(known)}"
                )
    except BaseException as err:
        pruned = type(err).__name__ == "TrialPruned"
        interrupted = isinstance(err, RunInterrupted)
        fault = storage_fault(err, Path(cfg.logging.project_dir)) if isinstance(err, Exception) else None
        payload["status"] = "pruned" if pruned else "interrupted" if interrupted else "failed"
        payload["error"] = f"{type(fault or err).__name__}: {fault or err}"
        write_result_if_possible(job_dir, payload)  # on a full disk this may fail too
        _mark_sweep(cfg, sweep, results, "PRUNED" if pruned else "FAIL", None, directions[0])
        if fault is not None:
            raise fault from None
        raise
    values = [aggregate_objective(results, m) for m in metrics]
    payload.update(objective=values[0], status="completed")
    if len(metrics) > 1:
        payload["objectives"] = values
    write_result(job_dir, payload)
    _mark_sweep(cfg, sweep, results, "COMPLETE", values[0], directions[0])
    log.info("objective %s = %s", ", ".join(metrics), ", ".join(f"{v:.6g}" for v in values))
    if sweep.sweep_dir is None and distributed_rank() == 0:
        _print_run_report(cfg, job_dir, results)
    return values[0] if len(values) == 1 else values
