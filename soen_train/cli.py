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

from soen_train.config.errors import ConfigError
from soen_train.config.secrets import move_secret_overrides_to_env, redact
from soen_train.config.store import register_configs
from soen_train.config.validation import check_override_key
from soen_train.errors import SOENError
from soen_train.registry import UnknownNameError

# Config groups a user picks with `group=option`; anything else on the command line is a key.
CONFIG_GROUPS = {
    "optimizer", "loss", "time_pooling", "lr_scheduler", "logger", "arch", "debug",
    "launcher", "hparams_search", "experiment", "sweep",
}
#: Groups in the primary defaults list, so `group=option` needs no `+`; the older `+group=option`
#: spelling is still accepted (Hydra would refuse to append a group that is already there).
LISTED_GROUPS = ("experiment", "sweep")


def _without_plus_for_listed_groups(args: List[str]) -> List[str]:
    """`+experiment=pulses` -> `experiment=pulses` (likewise `+sweep=`)."""
    return [a[1:] if a.startswith("+") and a[1:].split("=", 1)[0] in LISTED_GROUPS else a for a in args]


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


def _one_line(err: BaseException) -> str:
    """A multi-line Hydra/OmegaConf message folded into one line (no hints to set env vars)."""
    text = str(err)
    if err.__cause__ is not None and str(err.__cause__) not in text:
        text += "\n" + str(err.__cause__)
    text = text.split("Config search path:")[0]  # Hydra's search-path dump says nothing useful
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith(("See https://", "Set the environment"))]
    return " ".join(ln if ln.endswith(":") else ln + ";" for ln in lines).rstrip(";") or type(err).__name__


def _precompose(args: List[str]) -> None:
    """Compose a single run's config once, turning Hydra composition errors (a wrong type, an
    unknown group option, bad override syntax) into one-line ConfigErrors.

    Multirun sweeps and runs with Hydra flags are left to Hydra itself (their override values
    are sweep expressions that only the sweeper understands).
    """
    if any(arg.startswith("-") for arg in args):
        return
    from hydra import compose, initialize_config_module
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException


    overrides = [
        arg for arg in args
        if not arg.lstrip("+~").startswith(("hydra.", "hydra/")) or arg.startswith("hydra.searchpath=")
    ]
    try:
        with initialize_config_module("soen_train.conf", version_base="1.3"):
            cfg = compose("train", overrides=overrides)
    except (HydraException, OmegaConfBaseException) as err:
        raise ConfigError(f"invalid override: {_one_line(err)}") from None
    _fetch_dataset_sources(cfg)


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


def _fetch_dataset_sources(cfg: Any) -> None:
    """Download a built-in dataset's source files (MNIST) before Hydra makes its job folder or
    anything is printed, so an offline machine answers with its one error line first."""
    d = cfg.data
    if d.dataset:
        from soen_train.data.makers import dataset_output_path, fetch_dataset_sources

        params = OmegaConf.to_container(d.dataset_params, resolve=True) if isinstance(
            d.dataset_params, DictConfig) else dict(d.dataset_params)
        fetch_dataset_sources(d.dataset, dataset_output_path(d.dataset, d.data_path), **params)


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


def _job(cfg: DictConfig) -> Any:
    from soen_train.config.loading import to_job_config
    from soen_train.config.tree import print_config

    hc = HydraConfig.get()
    job_dir = Path(hc.runtime.output_dir)
    _redact_saved_config(job_dir)
    job_cfg = to_job_config(cfg)
    _check_catalog_names(job_cfg)
    _fetch_dataset_sources(job_cfg)
    print_config(cfg, job_cfg.logging.print_config, dict(hc.runtime.choices), list(hc.overrides.task))
    from soen_train.training.runner import SweepInfo, run_job

    sweep = SweepInfo()
    if hc.mode == RunMode.MULTIRUN:
        _refuse_local_ddp_in_sweeps(job_cfg)
        sweep = SweepInfo(sweep_dir=Path(hc.sweep.dir), job_num=int(hc.job.num))
    return run_job(job_cfg, job_dir=job_dir, overrides=list(hc.overrides.task), sweep=sweep)


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def _hydra_entry(cfg: DictConfig) -> Optional[Any]:
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    try:
        return _job(cfg)
    except Exception as err:
        if not _is_user_error(err):
            raise
        if multirun:
            raise  # Hydra records the failed job and the sweep goes on
        print(f"Error: {_one_line(err)}", file=sys.stderr)
        sys.exit(2)


def _is_user_error(err: BaseException) -> bool:
    """Errors caused by the user's config, data or files: printed as one line, no traceback."""
    if isinstance(err, (SOENError, UnknownNameError)):
        return True
    model_errors = sys.modules.get("soen_train.model.validation"), sys.modules.get("soen_train.model.soen_file")
    kinds = tuple(getattr(mod, name) for mod, name in zip(model_errors, ("ArchitectureError", "SoenFileError")) if mod)
    return isinstance(err, kinds)


def main(argv: Optional[List[str]] = None) -> None:
    """Entry point of the `soen-train` console script."""
    args = _without_plus_for_listed_groups(list(sys.argv[1:] if argv is None else argv))
    try:
        from soen_train.config.from_file_cli import expand_from_file
        from soen_train.config.guide_aliases import rewrite_overrides

        expanded = expand_from_file(args)  # --from-file: an original SOEN toolkit training YAML
        if expanded is None:
            return
        args = rewrite_overrides(expanded)  # the original guide's key names
        _precheck_overrides(args)
        args = move_secret_overrides_to_env(args)
        register_configs()
        _precompose(args)
    except SOENError as err:
        print(f"Error: {err}", file=sys.stderr)
        sys.exit(2)
    sys.argv = [sys.argv[0], *args]
    _hydra_entry()


if __name__ == "__main__":
    main()
