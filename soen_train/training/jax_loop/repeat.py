"""One repeat under ``training.backend=jax``: what the runner calls (``run_jax_repeat``).

``run_jax_repeat(cfg, repeat, paths, datamodule, model)`` trains one repeat of a
``SOENTrainConfig`` and returns its metrics (best and final validation values,
``epochs_trained``, test figures), like the torch runner's summary. The model is the seeded
``SOENModel`` the runner built; the data module is the same ``SOENDataModule``.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from .run_state import JaxRunResult
from .trainer import JaxTrainer


def default_loggers(cfg: Any, paths: Any) -> List[Any]:
    """The torch runner's loggers for this repeat (TensorBoard in logs/repeat_<k>, MLflow)."""
    from soen_train.training.trainer_factory import build_loggers, flat_hparams

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
