"""What a training job imports, so a sweep's worker processes import it once, before their
first job (``launcher=joblib``: forked workers inherit it from the sweeper, fresh ones import it
when they start), instead of inside it.

Only the loggers the config turns on are listed: MLflow alone costs seconds to import.
"""

from __future__ import annotations

import importlib
from typing import Any, List

from omegaconf import OmegaConf

#: Every training job: the runner (torch, Lightning, the simulator, data, callbacks).
TRAINING_MODULES = ("soen_train.training.runner",)
TENSORBOARD_MODULES = ("lightning.pytorch.loggers.tensorboard",)
MLFLOW_MODULES = ("mlflow.tracking", "soen_train.tracking.mlflow_fallback")
#: A local MLflow store (sqlite, the default): its SQLAlchemy layer, about 2 s of a first job.
MLFLOW_SQL_STORE_MODULES = ("mlflow.store.tracking.sqlalchemy_store",)


def job_modules(config: Any) -> List[str]:
    """The modules a job of ``config`` (the composed job config, a DictConfig) imports; none
    for an app that is not soen-train (no ``training`` section)."""
    if OmegaConf.select(config, "training") is None:
        return []
    modules = list(TRAINING_MODULES)
    if OmegaConf.select(config, "logging.tensorboard_active", default=False):
        modules += TENSORBOARD_MODULES
    if OmegaConf.select(config, "logging.mlflow_active", default=False):
        modules += MLFLOW_MODULES
        uri = str(OmegaConf.select(config, "logging.mlflow_tracking_uri", default=None) or "")
        if not uri or uri.startswith("sqlite:"):
            modules += MLFLOW_SQL_STORE_MODULES
    return modules


def preload(modules: List[str]) -> None:
    """Import ``modules`` now (each once per process; an already imported one costs nothing)."""
    for name in modules:
        importlib.import_module(name)
