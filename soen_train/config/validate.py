"""The one validation pass of a job's config against the catalogs, before any work starts.

``validate(job_cfg)`` runs every validator of ``VALIDATORS`` in order: the loss terms (names
and params), the time pooling, the optimiser, the LR schedule, the architecture (layer types,
source functions, connection patterns: the spec is parsed, no model is built; a ``.soen`` file
is checked when it loads), the callbacks (each built from the config by its entry of the
callback catalog, then dropped) and the backend's refusals (``training.backend=jax``).

The CLI calls it once per distinct job after Hydra's compose and the pre-flight checks, and
before Hydra starts the first job. Values (choices, ranges, combinations) are checked earlier,
when the typed config is built (``config/validation.py``), without torch; the catalogs live
with torch, so this pass imports it. Every failure is one ``ConfigError`` line naming the key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from soen_train.config.errors import ConfigError, error_text, keyed
from soen_train.config.schema import SOENTrainConfig
from soen_train.errors import SOENError
from soen_train.registry import Registry

Validator = Callable[[SOENTrainConfig], None]

#: The validators of the pass, run in registration order (catalog names before the
#: callbacks and the backend, whose messages assume valid names).
VALIDATORS: Registry[Validator] = Registry("validator")


@VALIDATORS.register("losses")
def _losses(cfg: SOENTrainConfig) -> None:
    """Each term of ``training.loss.losses``: its name and params (``training.loss.losses[i]``)."""
    from soen_train.training.losses import WeightedLoss

    WeightedLoss([dataclasses.asdict(item) for item in cfg.training.loss.losses])


@VALIDATORS.register("time_pooling")
def _time_pooling(cfg: SOENTrainConfig) -> None:
    """``model.time_pooling`` (name and params) where the mapping pools (seq2static)."""
    if cfg.training.mapping != "seq2static":
        return
    from soen_train.training.time_pooling import validate_pooling

    pooling = cfg.model.time_pooling
    keyed("model.time_pooling", lambda: validate_pooling(pooling.name, dict(pooling.params)))


@VALIDATORS.register("optimizer")
def _optimizer(cfg: SOENTrainConfig) -> None:
    """``training.optimizer.name``."""
    from soen_train.training.optimizers import OPTIMIZERS

    OPTIMIZERS.get(cfg.training.optimizer.name)


@VALIDATORS.register("lr_scheduler")
def _lr_scheduler(cfg: SOENTrainConfig) -> None:
    """``callbacks.lr_scheduler``: type, params and the metric a plateau schedule monitors."""
    from soen_train.training.trainer_factory import lr_scheduler_callback

    lr_scheduler_callback(cfg)


@VALIDATORS.register("architecture")
def _architecture(cfg: SOENTrainConfig) -> None:
    """``model.architecture`` / ``model.architecture_yaml``, parsed by the model package."""
    m = cfg.model
    if not (m.architecture or m.architecture_yaml):
        return  # a .soen (model.base_model_path) is checked when it is loaded
    from soen_train.model.architecture import read_architecture

    key = "model.architecture_yaml" if m.architecture_yaml else "model.architecture"
    source = m.architecture_yaml if m.architecture_yaml else dict(m.architecture)
    keyed(key, lambda: read_architecture(source))


@VALIDATORS.register("callbacks")
def _callbacks(cfg: SOENTrainConfig) -> None:
    """Every switched-on callback, built from the config (values checked; the model is not
    needed: its layer and connection names are checked when training sets up)."""
    from soen_train.training.callbacks.catalog import configured_callbacks

    configured_callbacks(cfg, seed=int(cfg.seed))


@VALIDATORS.register("backend")
def _backend(cfg: SOENTrainConfig) -> None:
    """``training.backend=jax``: the torch-only settings and model features it refuses."""
    if cfg.training.backend == "jax":
        from soen_train.jax.config_support import check_jax_config

        check_jax_config(cfg)


def validate(cfg: SOENTrainConfig) -> None:
    """Run every validator of the pass on ``cfg``; raise the first problem as one line.

    Raises:
        SOENError: a ``ConfigError`` (or the catalog's own user error: ``UnknownNameError``,
            ``JaxUnsupportedError``, ...) naming the config key, the bad value and what would be
            valid. A plain ValueError, TypeError or KeyError of a catalog's own check is the
            config's fault too (the catalogs are pure functions of these values) and becomes a
            ``ConfigError``.
    """
    for _, check in VALIDATORS.items():
        try:
            check(cfg)
        except SOENError:
            raise
        except (ValueError, TypeError, KeyError) as err:
            raise ConfigError(" ".join(error_text(err).split())) from None
