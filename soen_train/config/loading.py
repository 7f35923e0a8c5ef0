"""Turns Hydra's composed DictConfig into a validated `SOENTrainConfig` instance."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from soen_train.config.errors import ConfigError
from soen_train.config.schema import SOENTrainConfig
from soen_train.config.secrets import env_name_for
from soen_train.config.validation import validate


def to_job_config(cfg: DictConfig) -> SOENTrainConfig:
    """Resolve interpolations, build the dataclasses, fill secrets from the env, validate."""
    try:
        job = OmegaConf.to_object(cfg)
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None)
        where = f" at '{key}'" if key else ""
        first_line = str(err).strip().splitlines()[0]
        raise ConfigError(f"invalid config{where}: {first_line}") from None
    if not isinstance(job, SOENTrainConfig):
        raise ConfigError("the composed config is not a soen-train config (use conf/train.yaml)")
    if job.logging.mlflow_password is None:
        job.logging.mlflow_password = os.environ.get(env_name_for("logging.mlflow_password"))
    return validate(job)


#: The job's config, saved beside each repeat's checkpoints (what `soen-train-eval` reads).
RUN_CONFIG_FILE = "run_config.yaml"


def save_job_config(cfg: SOENTrainConfig, folder: Path) -> Path:
    """Write the job config (secrets masked) as `folder/run_config.yaml`; returns the path."""
    from soen_train.config.secrets import redact

    path = Path(folder) / RUN_CONFIG_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(OmegaConf.to_yaml(OmegaConf.create(redact(dataclasses.asdict(cfg)))))
    os.replace(tmp, path)
    return path


def load_job_config(path: Path) -> SOENTrainConfig:
    """Read a `run_config.yaml` back into a validated job config."""
    path = Path(path)
    try:
        merged = OmegaConf.merge(OmegaConf.structured(SOENTrainConfig), OmegaConf.load(path))
    except (OSError, OmegaConfBaseException) as err:
        raise ConfigError(f"{path}: not a soen-train run config ({str(err).splitlines()[0]})") from None
    return to_job_config(merged)
