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


def test_the_table_builds_each_callback_with_its_config_values():
    """The callback table (catalog.CALLBACKS) builds what the hand-written factory built: the
    same types in the same order, with the config's values and the repeat's seeds."""
    cfg = SOENTrainConfig()
    cb = cfg.callbacks
    cfg.data.target_seq_len = 6  # start_len null: the scheduler starts at the data's length
    cb.seq_len_scheduler.active = True
    cb.seq_len_scheduler.end_len = 12
    cb.seq_len_scheduler.end_epoch = 4
    cb.noise_annealers = [NoiseAnnealerConfig(key="phi", start_value=0.2, end_value=0.05)]
    cb.connection_noise = ConnectionNoiseConfig(connections=["0_to_1"], std=0.03, relative=True)
    cb.stateful_training.enable_for_validation = True
    cb.stateful_training.sample_selection = "first"
    callbacks = build_dynamic_callbacks(cfg, make_module(make_model()), seed=21)
    assert [type(c) for c in callbacks] == [
        TargetSeqLenScheduler, NoiseAnnealingCallback, StatefulTrainingCallback, ConnectionNoiseCallback,
    ]
    seq, annealer, stateful, noise = callbacks
    assert (seq.start_len, seq.end_len, seq.end_epoch, seq.setting) == (6, 12, 4, "callbacks.seq_len_scheduler")
    assert (annealer.key, annealer.target, annealer.start_value, annealer.end_value) == ("phi", "noise", 0.2, 0.05)
    assert annealer.setting == "callbacks.noise_annealers[0]"
    assert stateful.sample_selection == "first" and stateful.seed == 21
    assert (noise.requested, noise.std, noise.relative, noise.seed) == (["0_to_1"], 0.03, True, 22)


def test_the_validation_pass_builds_the_same_callbacks_without_a_model():
    """``configured_callbacks`` (what config.validate runs before any work) gives the callbacks
    the factory returns, before they are checked against a model."""
    from soen_train.training.callbacks.catalog import CALLBACKS, configured_callbacks

    cfg = _everything_on()
    built = configured_callbacks(cfg, seed=9)
    assert [type(c) for _, c in built] == [
        type(c) for c in build_dynamic_callbacks(cfg, make_module(make_model()), seed=9)
    ]
    assert [key for key, _ in built][:4] == [
        "callbacks.seq_len_scheduler", "callbacks.time_pooling_scale_scheduler",
        "callbacks.noise_annealers[0]", "callbacks.noise_annealers[1]",
    ]
    assert [name for name, _ in CALLBACKS.items()][0] == "seq_len_scheduler"  # the table's order


def test_a_bad_callback_value_fails_in_the_validation_pass():
    from soen_train.config.validate import validate

    cfg = SOENTrainConfig()
    cfg.callbacks.qat = QuantizationConfig(active=True)
    with pytest.raises(ConfigError, match=r"callbacks.qat: give bits"):
        validate(cfg)
    cfg.callbacks.qat = QuantizationConfig(active=True, bits=3, connections=["nope"])
    validate(cfg)  # connection names need the model: checked when training sets up
    with pytest.raises(ConfigError, match=r"callbacks.qat: 'nope' is not one of the model"):
        build_dynamic_callbacks(cfg, make_module(make_model()))
