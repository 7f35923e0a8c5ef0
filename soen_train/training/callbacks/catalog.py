"""The callback catalog: one entry per config switch, each building its callbacks from the config.

``CALLBACKS`` holds, in the order the trainer runs them, a builder per feature of
``cfg.callbacks`` / ``cfg.logging``: ``builder(cfg, seed)`` returns the ``(config key, callback)``
pairs the config switches on (none when off), with every value checked, so calling it is also
the feature's validator (``soen_train.config.validate`` builds and drops them before any work).
What needs the model (layer ids, connection names, module hooks) is checked afterwards by
``factory.build_dynamic_callbacks`` against the real module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, List, Tuple

import lightning.pytorch as pl

from soen_train.config.errors import ConfigError, keyed
from soen_train.config.schema import SOENTrainConfig
from soen_train.registry import Registry
from soen_train.training.callbacks.connection_histograms import ConnectionHistogramCallback
from soen_train.training.callbacks.connection_noise import ConnectionNoiseCallback
from soen_train.training.callbacks.gradient_norms import GradientNormCallback
from soen_train.training.callbacks.layer_param_histograms import LayerParamHistogramCallback
from soen_train.training.callbacks.noise_annealing import NoiseAnnealingCallback
from soen_train.training.callbacks.pooling_scale_scheduler import TimePoolingScaleScheduler
from soen_train.training.callbacks.qat import QATStraightThroughCallback
from soen_train.training.callbacks.quantized_accuracy import QuantizedAccuracyCallback
from soen_train.training.callbacks.seq_len_scheduler import TargetSeqLenScheduler
from soen_train.training.callbacks.state_trajectories import StateTrajectoryImageCallback
from soen_train.training.callbacks.stateful_training import StatefulTrainingCallback

#: The config key a callback comes from, and the callback.
Built = List[Tuple[str, pl.Callback]]
Builder = Callable[[SOENTrainConfig, int], Built]

CALLBACKS: Registry[Builder] = Registry("callback")


def _optional_list(value: Any) -> list[Any] | None:
    return None if value is None else list(value)


def _require_tensorboard(cfg: SOENTrainConfig, setting: str) -> None:
    if not cfg.logging.tensorboard_active:
        raise ConfigError(
            f"{setting} writes TensorBoard histograms/images, but logging.tensorboard_active is "
            "false; turn TensorBoard on or switch the feature off"
        )


@CALLBACKS.register("seq_len_scheduler")
def _seq_len_scheduler(cfg: SOENTrainConfig, seed: int) -> Built:
    sl, key = cfg.callbacks.seq_len_scheduler, "callbacks.seq_len_scheduler"
    if not sl.active:
        return []
    start = sl.start_len if sl.start_len is not None else cfg.data.target_seq_len
    if start is None:
        raise ConfigError(f"{key}.start_len is null and data.target_seq_len is null; set one of them")
    if sl.end_len is None:
        raise ConfigError(f"{key}.end_len is null; set the length to reach at end_epoch")
    return [(key, keyed(key, lambda: TargetSeqLenScheduler(
        start, sl.end_len, sl.start_epoch, sl.end_epoch, sl.scale_dt, setting=key)))]


@CALLBACKS.register("time_pooling_scale_scheduler")
def _pooling_scale_scheduler(cfg: SOENTrainConfig, seed: int) -> Built:
    ps, key = cfg.callbacks.time_pooling_scale_scheduler, "callbacks.time_pooling_scale_scheduler"
    if not ps.active:
        return []
    if cfg.training.mapping != "seq2static":
        raise ConfigError(
            f"{key} changes the time-pooling scale, which only seq2static uses; "
            f"training.mapping is '{cfg.training.mapping}'"
        )
    return [(key, keyed(key, lambda: TimePoolingScaleScheduler(
        ps.start_scale, ps.end_scale, ps.start_epoch, ps.end_epoch, setting=key)))]


@CALLBACKS.register("noise_annealers")
def _noise_annealers(cfg: SOENTrainConfig, seed: int) -> Built:
    out: Built = []
    for i, e in enumerate(cfg.callbacks.noise_annealers):
        key = f"callbacks.noise_annealers[{i}]"
        out.append((key, keyed(key, lambda e=e, k=key: NoiseAnnealingCallback(
            e.key, e.target, e.start_value, e.end_value, e.start_epoch, e.end_epoch, e.per_step,
            _optional_list(e.layer_ids), setting=k))))
    return out


@CALLBACKS.register("stateful_training")
def _stateful_training(cfg: SOENTrainConfig, seed: int) -> Built:
    st, key = cfg.callbacks.stateful_training, "callbacks.stateful_training"
    if not (st.enable_for_training or st.enable_for_validation):
        return []
    return [(key, keyed(key, lambda: StatefulTrainingCallback(
        st.enable_for_training, st.enable_for_validation, st.sample_selection, seed=seed,
        setting=key)))]


@CALLBACKS.register("quantized_accuracy")
def _quantized_accuracy(cfg: SOENTrainConfig, seed: int) -> Built:
    qa, key = cfg.callbacks.metrics.quantized_accuracy, "callbacks.metrics.quantized_accuracy"
    if not qa.active:
        return []
    return [(key, keyed(key, lambda: QuantizedAccuracyCallback(
        qa.bits, qa.levels, qa.min_val, qa.max_val, _optional_list(qa.connections), setting=key)))]


@CALLBACKS.register("qat")
def _qat(cfg: SOENTrainConfig, seed: int) -> Built:
    q, key = cfg.callbacks.qat, "callbacks.qat"
    if not q.active:
        return []
    return [(key, keyed(key, lambda: QATStraightThroughCallback(
        q.bits, q.levels, q.min_val, q.max_val, _optional_list(q.connections), seed=seed,
        setting=key)))]


@CALLBACKS.register("connection_noise")
def _connection_noise(cfg: SOENTrainConfig, seed: int) -> Built:
    cn, key = cfg.callbacks.connection_noise, "callbacks.connection_noise"
    if not cn.connections:
        return []
    if cn.std == 0:
        raise ConfigError(
            f"{key}.std is 0, so the listed connections would get no noise; set a positive std "
            "or leave connections empty"
        )
    return [(key, keyed(key, lambda: ConnectionNoiseCallback(
        list(cn.connections), cn.std, cn.relative, seed=seed + 1, setting=key)))]


@CALLBACKS.register("track_connections")
def _connection_histograms(cfg: SOENTrainConfig, seed: int) -> Built:
    return [("logging.track_connections", ConnectionHistogramCallback())] if cfg.logging.track_connections else []


@CALLBACKS.register("track_layer_params")
def _layer_param_histograms(cfg: SOENTrainConfig, seed: int) -> Built:
    lg = cfg.logging
    if not lg.track_layer_params:
        return []
    _require_tensorboard(cfg, "logging.track_layer_params")
    return [("logging.log_freq", keyed("logging.log_freq", lambda: LayerParamHistogramCallback(
        lg.log_freq, setting="logging.log_freq")))]


@CALLBACKS.register("log_gradients")
def _gradient_norms(cfg: SOENTrainConfig, seed: int) -> Built:
    lg = cfg.logging
    if not lg.log_gradients:
        return []
    return [("logging.log_freq", keyed("logging.log_freq", lambda: GradientNormCallback(
        lg.log_freq, setting="logging.log_freq")))]


@CALLBACKS.register("state_trajectories")
def _state_trajectories(cfg: SOENTrainConfig, seed: int) -> Built:
    tr, key = cfg.logging.state_trajectories, "logging.state_trajectories"
    if not tr.active:
        return []
    _require_tensorboard(cfg, key)
    return [(key, keyed(key, lambda: StateTrajectoryImageCallback(
        tr.mode, tr.layer_id, tr.num_samples, tr.max_neurons_per_sample, tr.tag_prefix,
        setting=key)))]


def configured_callbacks(cfg: SOENTrainConfig, seed: int) -> Built:
    """Every callback ``cfg`` switches on, in catalog order, values checked (model not needed)."""
    return [pair for _, build in CALLBACKS.items() for pair in build(cfg, seed)]
