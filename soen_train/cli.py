"""The `soen-train` command: compose the config with Hydra, validate it, run the job.

Kept thin and light: torch and Lightning are imported only once a job really trains, so
`soen-train --help` and `soen-train ... --cfg job` answer fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, List, Optional

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from soen_train.config.conf_dir import CONF_DIR, PRIMARY_CONFIG
from soen_train.config.errors import ConfigError
from soen_train.config.overrides import (
    check_override_keys,
    normalise_group_additions,
    one_line,
    parse_command_line,
)
from soen_train.config.secrets import move_secret_overrides_to_env, redact
from soen_train.config.startup_checks import check_before_start
from soen_train.config.store import register_configs
from soen_train.errors import SOENError


def _check_catalog_names(job_cfg: Any) -> None:
    """Look up every catalog name of the config (losses, pooling, optimizer, LR schedule, layer and
    source-function types) before any data is built or training starts."""
    from soen_train.training.model_factory import build_model
    from soen_train.training.optimizers import OPTIMIZERS
    from soen_train.training.time_pooling import validate_pooling
    from soen_train.training.trainer_factory import lr_scheduler_callback, validation_metric_names

    t, m = job_cfg.training, job_cfg.model
    validation_metric_names(job_cfg)  # builds the weighted loss: loss names and params
    if t.mapping == "seq2static":
        validate_pooling(m.time_pooling.name, dict(m.time_pooling.params))
    OPTIMIZERS.get(t.optimizer.name)
    lr_scheduler_callback(job_cfg)
    if m.architecture or m.architecture_yaml:  # layer and source-function names (a .soen is checked on load)
        from soen_train.config.errors import ConfigError
        from soen_train.model.validation import ArchitectureError

        try:
            build_model(None, False, m.architecture_yaml, m.architecture, seed=job_cfg.seed, dt=m.dt,
                        dt_learnable=m.dt_learnable)
        except ArchitectureError as err:
            key = "model.architecture_yaml" if m.architecture_yaml else "model.architecture"
            raise ConfigError(f"{key}: {err}") from None


def _check_catalogs_once(job_cfgs: List[Any]) -> None:
    """Catalog names of every job (each distinct model/loss/schedule combination once); the
    catalogs live with torch, so this comes after every check that needs neither."""
    seen = set()
    for job_cfg in job_cfgs:
        t = job_cfg.training
        key = repr((job_cfg.model, t.loss, t.optimizer.name, t.mapping, job_cfg.callbacks.lr_scheduler,
                    job_cfg.logging.metrics, job_cfg.seed))
        if key in seen:
            continue
        seen.add(key)
        try:
            _check_catalog_names(job_cfg)
        except Exception as err:
            if not _is_user_error(err):
                raise
            raise ConfigError(one_line(err)) from None


def _fetch_dataset_sources(job_cfgs: List[Any]) -> None:
    """Download each built-in dataset's source files (MNIST) once, before Hydra makes its job
    folder or anything is printed, so an offline machine answers with its one error line."""
    from soen_train.data.makers import dataset_output_path, fetch_dataset_sources

    fetched = set()
    for job_cfg in job_cfgs:
        d = job_cfg.data
        key = repr((d.dataset, d.data_path, d.dataset_params))
        if d.dataset and key not in fetched:
            fetched.add(key)
            fetch_dataset_sources(d.dataset, dataset_output_path(d.dataset, d.data_path),
                                  **dict(d.dataset_params))


def _redact_saved_config(job_dir: Path) -> None:
    """Mask secrets in the config copy Hydra saved before the job started."""
    saved = job_dir / ".hydra" / "config.yaml"
    if saved.is_file():
        data = OmegaConf.to_container(OmegaConf.load(saved), resolve=False)
        clean = redact(data)
        if clean != data:
            saved.write_text(OmegaConf.to_yaml(OmegaConf.create(clean)))


def _refuse_local_ddp_in_sweeps(job_cfg: Any) -> None:
    """Lightning starts DDP workers by re-running the command line; inside a local multirun that
    re-runs the whole sweep. On SLURM the scheduler starts the workers, which is fine."""
    t = job_cfg.training
    multi_device = str(t.devices) not in ("1", "[0]", "auto") or t.num_nodes > 1
    if str(t.strategy).startswith("ddp") and multi_device and "SLURM_JOB_ID" not in os.environ:
        raise ConfigError(
            f"training.strategy={t.strategy} with several devices cannot run inside a local "
            "multirun (each worker would restart the sweep); run the jobs one by one, or use "
            "launcher=slurm where SLURM starts the workers"
        )


def _refuse_srun_tasks_without_per_node(job_cfg: Any) -> None:
    """Lightning's SLURM environment takes the ranks per node from ``--ntasks-per-node``; a
    step started with ``srun -n N`` alone has no such count and Lightning stops with a
    RuntimeError in every task. Say what to pass instead, before any work."""
    ntasks = os.environ.get("SLURM_NTASKS", "1")
    t = job_cfg.training
    if (str(t.strategy).startswith("ddp") and ntasks.isdigit() and int(ntasks) > 1
            and "SLURM_NTASKS_PER_NODE" not in os.environ):
        raise ConfigError(
            f"training.strategy={t.strategy} over {ntasks} SLURM tasks started with --ntasks "
            f"only: Lightning needs the tasks per node, e.g. srun --nodes={t.num_nodes} "
            f"--ntasks-per-node={t.devices} soen-train ..."
        )


def _job(cfg: DictConfig) -> Any:
    from soen_train.config.loading import to_job_config
    from soen_train.config.tree import print_config

    hc = HydraConfig.get()
    job_dir = Path(hc.runtime.output_dir)
    _redact_saved_config(job_dir)
    job_cfg = to_job_config(cfg)  # checked with the catalogs in main() before Hydra started
    print_config(cfg, job_cfg.logging.print_config, dict(hc.runtime.choices), list(hc.overrides.task))
    from soen_train.training.runner import SweepInfo, run_job

    _refuse_srun_tasks_without_per_node(job_cfg)
    sweep = SweepInfo()
    if hc.mode == RunMode.MULTIRUN:
        _refuse_local_ddp_in_sweeps(job_cfg)
        sweep = SweepInfo(sweep_dir=Path(hc.sweep.dir), job_num=int(hc.job.num))
    return run_job(job_cfg, job_dir=job_dir, overrides=list(hc.overrides.task), sweep=sweep)


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name=PRIMARY_CONFIG)
def _hydra_entry(cfg: DictConfig) -> Optional[Any]:
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    try:
        return _job(cfg)
    except Exception as err:
        if not _is_user_error(err):
            raise
        if multirun:
            raise  # Hydra records the failed job and the sweep goes on
        print(f"Error: {one_line(err)}", file=sys.stderr)
        sys.exit(2)


def _is_user_error(err: BaseException) -> bool:
    """Errors caused by the user's config, data or files (every ``SOENError``, see
    soen_train/errors.py): printed as one line, no traceback."""
    return isinstance(err, SOENError)


def main(argv: Optional[List[str]] = None) -> None:
    """Entry point of the `soen-train` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        from soen_train.config.from_file_cli import expand_from_file
        from soen_train.config.guide_aliases import rewrite_overrides

        expanded = expand_from_file(args)  # --from-file: an original SOEN toolkit training YAML
        if expanded is None:
            return
        args = rewrite_overrides(expanded)  # the original guide's key names
        line = parse_command_line(normalise_group_additions(args))
        if not line.info_only:
            check_override_keys(line.overrides)
        args = move_secret_overrides_to_env(line.ordered())
        register_configs()
        line = parse_command_line(args)
        if not line.info_only:
            job_cfgs = check_before_start(line)
            _fetch_dataset_sources(job_cfgs)
            _check_catalogs_once(job_cfgs)
    except SOENError as err:
        print(f"Error: {one_line(err)}", file=sys.stderr)
        sys.exit(2)
    sys.argv = [sys.argv[0], *args]
    _hydra_entry()


if __name__ == "__main__":
    main()
