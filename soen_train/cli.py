"""The `soen-train` command: compose the config with Hydra, validate it, run the job.

Kept thin and light: torch and Lightning are imported only once a job really trains, so
`soen-train --help` and `soen-train ... --cfg job` answer fast.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, List, Optional

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from soen_train.config.secrets import move_secret_overrides_to_env, redact
from soen_train.config.store import register_configs
from soen_train.config.validation import check_override_key
from soen_train.errors import SOENError

log = logging.getLogger("soen_train")

# Config groups a user picks with `group=option`; anything else on the command line is a key.
CONFIG_GROUPS = {
    "optimizer", "loss", "time_pooling", "lr_scheduler", "logger", "arch", "debug",
    "launcher", "hparams_search", "experiment",
}


def _precheck_overrides(argv: List[str]) -> None:
    """Reject misspelled keys before Hydra runs, naming the closest valid key."""
    for arg in argv:
        if arg.startswith("-") or "=" not in arg:
            continue
        key = arg.split("=", 1)[0]
        if key.startswith(("+", "~")) or key.startswith("hydra") or "/" in key:
            continue
        if key in CONFIG_GROUPS:
            continue
        check_override_key(key)


def _redact_saved_config(job_dir: Path) -> None:
    """Mask secrets in the config copy Hydra saved before the job started."""
    saved = job_dir / ".hydra" / "config.yaml"
    if saved.is_file():
        data = OmegaConf.to_container(OmegaConf.load(saved), resolve=False)
        clean = redact(data)
        if clean != data:
            saved.write_text(OmegaConf.to_yaml(OmegaConf.create(clean)))


def _job(cfg: DictConfig) -> Any:
    from soen_train.config.loading import to_job_config
    from soen_train.config.tree import print_config_tree

    hc = HydraConfig.get()
    job_dir = Path(hc.runtime.output_dir)
    _redact_saved_config(job_dir)
    job_cfg = to_job_config(cfg)
    print_config_tree(cfg)
    from soen_train.training.runner import SweepInfo, run_job

    sweep = SweepInfo()
    if hc.mode == RunMode.MULTIRUN:
        sweep = SweepInfo(sweep_dir=Path(hc.sweep.dir), job_num=int(hc.job.num))
    return run_job(job_cfg, job_dir=job_dir, overrides=list(hc.overrides.task), sweep=sweep)


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def _hydra_entry(cfg: DictConfig) -> Optional[Any]:
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    try:
        return _job(cfg)
    except SOENError as err:
        if multirun:
            raise  # Hydra records the failed job and the sweep goes on
        print(f"Error: {err}", file=sys.stderr)
        sys.exit(2)


def main(argv: Optional[List[str]] = None) -> None:
    """Entry point of the `soen-train` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        _precheck_overrides(args)
    except SOENError as err:
        print(f"Error: {err}", file=sys.stderr)
        sys.exit(2)
    args = move_secret_overrides_to_env(args)
    register_configs()
    sys.argv = [sys.argv[0], *args]
    _hydra_entry()


if __name__ == "__main__":
    main()
