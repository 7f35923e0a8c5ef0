"""build_dynamic_callbacks: exactly the switched-on callbacks, cross-references checked up front."""

from __future__ import annotations

import pytest
from callbacks_testkit import make_model, make_module

from soen_train.config.errors import ConfigError
from soen_train.config.schema import (
    ConnectionNoiseConfig,
    NoiseAnnealerConfig,
    QuantizationConfig,
    SOENTrainConfig,
)
from soen_train.training.callbacks import (
    ConnectionHistogramCallback,
    ConnectionNoiseCallback,
    GradientNormCallback,
    LayerParamHistogramCallback,
    NoiseAnnealingCallback,
    QATStraightThroughCallback,
    QuantizedAccuracyCallback,
    StatefulTrainingCallback,
    StateTrajectoryImageCallback,
    TargetSeqLenScheduler,
    TimePoolingScaleScheduler,
    build_dynamic_callbacks,
    trainer_settings,
)


def _everything_on() -> SOENTrainConfig:
    cfg = SOENTrainConfig()
    cb, lg = cfg.callbacks, cfg.logging
    cb.seq_len_scheduler.active = True
    cb.seq_len_scheduler.start_len = 4
    cb.seq_len_scheduler.end_len = 8
    cb.time_pooling_scale_scheduler.active = True
    cb.time_pooling_scale_scheduler.end_scale = 2.0
    cb.noise_annealers = [
        NoiseAnnealerConfig(key="phi", start_value=0.1),
        NoiseAnnealerConfig(key="j", target="perturb", layer_ids=[1]),
    ]
    cb.stateful_training.enable_for_training = True
    cb.metrics.quantized_accuracy = QuantizationConfig(active=True, bits=2)
    cb.qat = QuantizationConfig(active=True, bits=3, connections=["0_to_1"])
    cb.connection_noise = ConnectionNoiseConfig(connections=["1_to_1"], std=0.01)
    lg.track_connections = lg.track_layer_params = lg.log_gradients = True
    lg.state_trajectories.active = True
    lg.log_freq = 7
    return cfg


def test_default_config_builds_nothing():
    assert build_dynamic_callbacks(SOENTrainConfig(), make_module(make_model())) == []
    assert trainer_settings(SOENTrainConfig()) == {}


def test_every_switch_builds_its_callback_in_order():
    cfg = _everything_on()
    callbacks = build_dynamic_callbacks(cfg, make_module(make_model()), seed=9)
    assert [type(c) for c in callbacks] == [
        TargetSeqLenScheduler,
        TimePoolingScaleScheduler,
        NoiseAnnealingCallback,
        NoiseAnnealingCallback,
        StatefulTrainingCallback,
        QuantizedAccuracyCallback,
        QATStraightThroughCallback,
        ConnectionNoiseCallback,
        ConnectionHistogramCallback,
        LayerParamHistogramCallback,
        GradientNormCallback,
        StateTrajectoryImageCallback,
    ]
    qat = callbacks[6]
    assert qat.codebook.numel() == 2**3 + 1 and qat.connections == ["0_to_1"] and qat.seed == 9
    assert callbacks[9].every_n_steps == 7 and callbacks[10].every_n_steps == 7
    assert callbacks[11].layer_id == 2  # null = the output layer
    assert trainer_settings(cfg) == {"reload_dataloaders_every_n_epochs": 1}


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda c: setattr(
                c.callbacks, "noise_annealers", [NoiseAnnealerConfig(key="phi", layer_ids=[4])]
            ),
            r"callbacks.noise_annealers\[0\]: layer_ids \[4\]",
        ),
        (
            lambda c: setattr(c.callbacks, "noise_annealers", [NoiseAnnealerConfig(key="ph")]),
            r"callbacks.noise_annealers\[0\]: .*'ph'.*did you mean 'phi'",
        ),
        (
            lambda c: setattr(
                c.callbacks,
                "connection_noise",
                ConnectionNoiseConfig(connections=["0_to_2"], std=0.1),
            ),
            r"callbacks.connection_noise: '0_to_2' is not one of the model's connections",
        ),
        (
            lambda c: setattr(
                c.callbacks, "connection_noise", ConnectionNoiseConfig(connections=["0_to_1"])
            ),
            r"callbacks.connection_noise.std is 0",
        ),
        (
            lambda c: setattr(
                c.callbacks,
                "qat",
                QuantizationConfig(active=True, bits=2, connections=["J_1_to_9"]),
            ),
            r"callbacks.qat: 'J_1_to_9' is not one of the model's learnable connections.*valid names: 0_to_1, 1_to_1, 1_to_2",
        ),
        (
            lambda c: setattr(c.callbacks, "qat", QuantizationConfig(active=True)),
            r"callbacks.qat: give bits",
        ),
        (
            lambda c: setattr(c.callbacks.seq_len_scheduler, "active", True),
            r"callbacks.seq_len_scheduler.start_len is null and data.target_seq_len is null",
        ),
        (
            lambda c: (
                setattr(c.logging.state_trajectories, "active", True),
                setattr(c.logging, "tensorboard_active", False),
            ),
            r"logging.state_trajectories .*tensorboard_active",
        ),
        (
            lambda c: (
                setattr(c.callbacks.time_pooling_scale_scheduler, "active", True),
                setattr(c.training, "mapping", "seq2seq"),
            ),
            r"callbacks.time_pooling_scale_scheduler .*seq2static",
        ),
        (
            lambda c: (
                setattr(c.callbacks.stateful_training, "sample_selection", "all")
                or setattr(c.callbacks.stateful_training, "enable_for_validation", True)
            ),
            r"callbacks.stateful_training: parameter 'sample_selection' = 'all'",
        ),
    ],
)
def test_bad_references_fail_up_front_naming_the_key(change, message):
    cfg = SOENTrainConfig()
    change(cfg)
    with pytest.raises(ConfigError, match=message):
        build_dynamic_callbacks(cfg, make_module(make_model()))
