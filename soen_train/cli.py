"""The `soen-train` command: compose the config with Hydra, validate it, run the job.

Kept thin and light: torch and Lightning are imported only once a job really trains, so
`soen-train --help` and `soen-train ... --cfg job` answer fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, List, Optional, Set

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from soen_train.config.conf_dir import CONF_DIR, PRIMARY_CONFIG
from soen_train.config.errors import ConfigError
from soen_train.config.overrides import (
    check_override_keys,
    normalise_group_additions,
    one_line,
    parse_command_line,
)
from soen_train.config.secrets import move_secret_overrides_to_env, redact_yaml_file
from soen_train.config.startup_checks import check_before_start
from soen_train.config.store import register_configs
from soen_train.errors import SOENError

#: ``repr`` of every job config the validation pass has checked in this process.
_VALIDATED: Set[str] = set()


def _validate_once(job_cfg: Any) -> None:
    """The one validation pass (``config.validate``) of ``job_cfg``, unless an identical job
    was validated already in this process."""
    from soen_train.config.validate import validate

    key = repr(job_cfg)
    if key not in _VALIDATED:
        validate(job_cfg)
        _VALIDATED.add(key)


def _validate_jobs(job_cfgs: List[Any]) -> None:
    """Validate each distinct job before Hydra starts any; the pass imports the catalogs
    (torch), so it comes after every check that needs neither."""
    for job_cfg in job_cfgs:
        _validate_once(job_cfg)


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
    redact_yaml_file(job_dir / ".hydra" / "config.yaml")  # the config copy Hydra saved
    job_cfg = to_job_config(cfg)
    _validate_once(job_cfg)  # done in main() before Hydra started, unless a sweeper sampled it
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
    except SOENError as err:  # the user's config, data or files (one line, no traceback)
        if multirun:
            raise  # Hydra records the failed job and the sweep goes on
        print(f"Error: {one_line(err)}", file=sys.stderr)
        sys.exit(2)


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
            _VALIDATED.clear()  # a new command line (in-process callers run several)
            job_cfgs = check_before_start(line)
            _fetch_dataset_sources(job_cfgs)
            _validate_jobs(job_cfgs)
    except SOENError as err:
        print(f"Error: {one_line(err)}", file=sys.stderr)
        sys.exit(2)
    sys.argv = [sys.argv[0], *args]
    _hydra_entry()


if __name__ == "__main__":
    main()
