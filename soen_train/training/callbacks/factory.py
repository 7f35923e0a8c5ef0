"""Build the dynamic and monitoring callbacks a config switches on, checked against the model.

``build_dynamic_callbacks(cfg, module)`` returns exactly the callbacks that
``cfg.callbacks`` and ``cfg.logging`` ask for: the table ``catalog.CALLBACKS`` builds them from
the config (values checked there, also before any work by ``soen_train.config.validate``), and
each is then checked against the model and module it will act on: layer ids, connection names,
noise keys and required module hooks, so a typo stops the run before the first batch with a
``ConfigError`` naming the config key. ``trainer_settings(cfg)`` gives the Trainer arguments
these callbacks rely on.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch

from soen_train.config.errors import keyed
from soen_train.config.schema import SOENTrainConfig
from soen_train.training.callbacks.catalog import configured_callbacks
from soen_train.training.callbacks.model_refs import unwrap_model


def _check_against(callback: pl.Callback, module: Any, model: Any) -> None:
    """A callback's own check of what it acts on: the Lightning module's hooks, or the model's
    layers and connections (callbacks without references have neither)."""
    if hasattr(callback, "check_module"):
        callback.check_module(module)
    elif hasattr(callback, "check_model"):
        callback.check_model(model)


def build_dynamic_callbacks(
    cfg: SOENTrainConfig, module: Any, seed: int | None = None
) -> list[pl.Callback]:
    """The callbacks switched on in ``cfg``, validated against ``module`` and its model.

    ``seed`` seeds the callbacks' own random generators (connection noise, stochastic
    rounding, random sample selection); default ``torch.initial_seed()``, i.e. the seed the
    runner gave this repeat.
    """
    seed = int(torch.initial_seed() % (2**63)) if seed is None else int(seed)
    model = unwrap_model(module)
    built = configured_callbacks(cfg, seed)
    for key, callback in built:
        keyed(key, lambda c=callback: _check_against(c, module, model))
    return [callback for _, callback in built]


def trainer_settings(cfg: SOENTrainConfig) -> dict[str, Any]:
    """Trainer keyword arguments the configured callbacks need (merge into ``pl.Trainer(...)``)."""
    settings: dict[str, Any] = {}
    if cfg.callbacks.seq_len_scheduler.active:
        # New sequence lengths must reach loaders that run worker processes.
        settings["reload_dataloaders_every_n_epochs"] = 1
    return settings
