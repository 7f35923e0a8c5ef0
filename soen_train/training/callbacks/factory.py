"""Build the dynamic and monitoring callbacks a config switches on, checked against the model.

``build_dynamic_callbacks(cfg, module)`` returns exactly the callbacks that
``cfg.callbacks`` and ``cfg.logging`` ask for, each already checked against the model and
module it will act on: layer ids, connection names, noise keys and required module hooks
are resolved here, so a typo stops the run before the first batch with a ``ConfigError``
naming the config key. ``trainer_settings(cfg)`` gives the Trainer arguments these
callbacks rely on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import lightning.pytorch as pl
import torch

from soen_train.config.errors import ConfigError
from soen_train.config.schema import SOENTrainConfig
from soen_train.training.callbacks.connection_histograms import ConnectionHistogramCallback
from soen_train.training.callbacks.connection_noise import ConnectionNoiseCallback
from soen_train.training.callbacks.gradient_norms import GradientNormCallback
from soen_train.training.callbacks.layer_param_histograms import LayerParamHistogramCallback
from soen_train.training.callbacks.model_refs import unwrap_model
from soen_train.training.callbacks.noise_annealing import NoiseAnnealingCallback
from soen_train.training.callbacks.pooling_scale_scheduler import TimePoolingScaleScheduler
from soen_train.training.callbacks.qat import QATStraightThroughCallback
from soen_train.training.callbacks.quantized_accuracy import QuantizedAccuracyCallback
from soen_train.training.callbacks.seq_len_scheduler import TargetSeqLenScheduler
from soen_train.training.callbacks.state_trajectories import StateTrajectoryImageCallback
from soen_train.training.callbacks.stateful_training import StatefulTrainingCallback

C = TypeVar("C")


def _checked(setting: str, make: Callable[[], C]) -> C:
    """Run ``make``; a plain ValueError/TypeError becomes a ConfigError naming ``setting``."""
    try:
        return make()
    except ConfigError:
        raise
    except (ValueError, TypeError, KeyError) as err:
        text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
        if not text.startswith(setting):
            text = f"{setting}: {text}"
        raise ConfigError(text) from None


def _optional_list(value: Any) -> list[Any] | None:
    return None if value is None else list(value)


def _require_tensorboard(cfg: SOENTrainConfig, setting: str) -> None:
    if not cfg.logging.tensorboard_active:
        raise ConfigError(
            f"{setting} writes TensorBoard histograms/images, but logging.tensorboard_active is "
            "false; turn TensorBoard on or switch the feature off"
        )


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
    cb, lg = cfg.callbacks, cfg.logging
    out: list[pl.Callback] = []

    sl = cb.seq_len_scheduler
    if sl.active:
        key = "callbacks.seq_len_scheduler"
        start = sl.start_len if sl.start_len is not None else cfg.data.target_seq_len
        if start is None:
            raise ConfigError(
                f"{key}.start_len is null and data.target_seq_len is null; set one of them"
            )
        if sl.end_len is None:
            raise ConfigError(f"{key}.end_len is null; set the length to reach at end_epoch")
        seq = _checked(
            key,
            lambda: TargetSeqLenScheduler(
                start, sl.end_len, sl.start_epoch, sl.end_epoch, sl.scale_dt, setting=key
            ),
        )
        _checked(key, lambda: seq.check_model(model))
        out.append(seq)

    ps = cb.time_pooling_scale_scheduler
    if ps.active:
        key = "callbacks.time_pooling_scale_scheduler"
        if cfg.training.mapping != "seq2static":
            raise ConfigError(
                f"{key} changes the time-pooling scale, which only seq2static uses; "
                f"training.mapping is '{cfg.training.mapping}'"
            )
        scale = _checked(
            key,
            lambda: TimePoolingScaleScheduler(
                ps.start_scale, ps.end_scale, ps.start_epoch, ps.end_epoch, setting=key
            ),
        )
        _checked(key, lambda: scale.check_module(module))
        out.append(scale)

    for i, entry in enumerate(cb.noise_annealers):
        key = f"callbacks.noise_annealers[{i}]"
        annealer = _checked(
            key,
            lambda e=entry, k=key: NoiseAnnealingCallback(
                e.key,
                e.target,
                e.start_value,
                e.end_value,
                e.start_epoch,
                e.end_epoch,
                e.per_step,
                _optional_list(e.layer_ids),
                setting=k,
            ),
        )
        _checked(key, lambda a=annealer: a.check_model(model))
        out.append(annealer)

    st = cb.stateful_training
    if st.enable_for_training or st.enable_for_validation:
        key = "callbacks.stateful_training"
        stateful = _checked(
            key,
            lambda: StatefulTrainingCallback(
                st.enable_for_training,
                st.enable_for_validation,
                st.sample_selection,
                seed=seed,
                setting=key,
            ),
        )
        _checked(key, lambda: stateful.check_module(module))
        out.append(stateful)

    qa = cb.metrics.quantized_accuracy
    if qa.active:
        key = "callbacks.metrics.quantized_accuracy"
        quant_acc = _checked(
            key,
            lambda: QuantizedAccuracyCallback(
                qa.bits,
                qa.levels,
                qa.min_val,
                qa.max_val,
                _optional_list(qa.connections),
                setting=key,
            ),
        )
        _checked(key, lambda: quant_acc.check_module(module))
        out.append(quant_acc)

    q = cb.qat
    if q.active:
        key = "callbacks.qat"
        qat = _checked(
            key,
            lambda: QATStraightThroughCallback(
                q.bits,
                q.levels,
                q.min_val,
                q.max_val,
                _optional_list(q.connections),
                seed=seed,
                setting=key,
            ),
        )
        _checked(key, lambda: qat.check_model(model))
        out.append(qat)

    cn = cb.connection_noise
    if cn.connections:
        key = "callbacks.connection_noise"
        if cn.std == 0:
            raise ConfigError(
                f"{key}.std is 0, so the listed connections would get no noise; set a positive std "
                "or leave connections empty"
            )
        noise = _checked(
            key,
            lambda: ConnectionNoiseCallback(
                list(cn.connections), cn.std, cn.relative, seed=seed + 1, setting=key
            ),
        )
        _checked(key, lambda: noise.check_model(model))
        out.append(noise)

    if lg.track_connections:
        out.append(ConnectionHistogramCallback())
    if lg.track_layer_params:
        _require_tensorboard(cfg, "logging.track_layer_params")
        out.append(
            _checked(
                "logging.log_freq",
                lambda: LayerParamHistogramCallback(lg.log_freq, setting="logging.log_freq"),
            )
        )
    if lg.log_gradients:
        out.append(
            _checked(
                "logging.log_freq",
                lambda: GradientNormCallback(lg.log_freq, setting="logging.log_freq"),
            )
        )
    tr = lg.state_trajectories
    if tr.active:
        key = "logging.state_trajectories"
        _require_tensorboard(cfg, key)
        traj = _checked(
            key,
            lambda: StateTrajectoryImageCallback(
                tr.mode,
                tr.layer_id,
                tr.num_samples,
                tr.max_neurons_per_sample,
                tr.tag_prefix,
                setting=key,
            ),
        )
        _checked(key, lambda: traj.check_model(model))
        out.append(traj)
    return out


def trainer_settings(cfg: SOENTrainConfig) -> dict[str, Any]:
    """Trainer keyword arguments the configured callbacks need (merge into ``pl.Trainer(...)``)."""
    settings: dict[str, Any] = {}
    if cfg.callbacks.seq_len_scheduler.active:
        # New sequence lengths must reach loaders that run worker processes.
        settings["reload_dataloaders_every_n_epochs"] = 1
    return settings
