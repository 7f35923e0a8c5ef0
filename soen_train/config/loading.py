"""Turns Hydra's composed DictConfig into a validated `SOENTrainConfig` instance."""

from __future__ import annotations

import os

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
