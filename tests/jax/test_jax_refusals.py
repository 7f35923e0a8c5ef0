"""Torch-only features asked of the JAX backend fail up front with the config key in the message."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import model_zoo as zoo
import pytest
from run_setup import repeat_inputs, tiny_config

from soen_train.config.schema import NoiseAnnealerConfig, SOENTrainConfig
from soen_train.jax.config_support import check_jax_config
from soen_train.jax.errors import JaxUnsupportedError
from soen_train.jax.simulator import JaxSOEN
from soen_train.model.network import SOENModel
from soen_train.training.jax_loop.trainer import JaxTrainer


def _set(path: str, value: Any) -> Callable[[SOENTrainConfig], None]:
    def apply(cfg: SOENTrainConfig) -> None:
        *parents, leaf = path.split(".")
        target = cfg
        for name in parents:
            target = getattr(target, name)
        setattr(target, leaf, value)

    return apply


REFUSED = [
    ("training.use_tbptt", _set("training.use_tbptt", True)),
    ("training.alternate_losses", _set("training.alternate_losses", True)),
    (
        "training.optimizer.param_groups",
        _set("training.optimizer.param_groups", [{"match": "layers", "lr": 0.1}]),
    ),
    ("training.precision", _set("training.precision", "16-mixed")),
    ("training.fast_loop", _set("training.fast_loop", False)),
    ("training.strategy", _set("training.strategy", "ddp")),
    ("training.devices", _set("training.devices", 2)),
    (
        "callbacks.noise_annealers",
        _set("callbacks.noise_annealers", [NoiseAnnealerConfig(key="phi")]),
    ),
    (
        "callbacks.connection_noise",
        lambda c: (
            _set("callbacks.connection_noise.connections", ["0_to_1"])(c),
            _set("callbacks.connection_noise.std", 0.1)(c),
        ),
    ),
    ("callbacks.stateful_training", _set("callbacks.stateful_training.enable_for_training", True)),
    ("callbacks.qat.active", _set("callbacks.qat.active", True)),
    (
        "callbacks.metrics.quantized_accuracy.active",
        _set("callbacks.metrics.quantized_accuracy.active", True),
    ),
    (
        "callbacks.seq_len_scheduler.scale_dt",
        lambda c: (
            _set("callbacks.seq_len_scheduler.active", True)(c),
            _set("callbacks.seq_len_scheduler.scale_dt", True)(c),
        ),
    ),
    ("logging.track_connections", _set("logging.track_connections", True)),
    ("logging.log_gradients", _set("logging.log_gradients", True)),
    ("logging.state_trajectories.active", _set("logging.state_trajectories.active", True)),
    ("profiler.active", _set("profiler.active", True)),
]


@pytest.mark.parametrize("key,change", REFUSED, ids=[k for k, _ in REFUSED])
def test_torch_only_config_keys_are_refused(
    key: str, change: Callable[[SOENTrainConfig], None]
) -> None:
    cfg = SOENTrainConfig()
    check_jax_config(cfg)  # the defaults are all supported
    change(cfg)
    with pytest.raises(JaxUnsupportedError, match=key.replace(".", r"\.")):
        check_jax_config(cfg)


def test_unknown_lr_schedule_lists_the_valid_ones() -> None:
    """The LR schedule type is a catalog name both backends share: the one validation pass
    checks it (config.validate), before the JAX refusals."""
    from soen_train.config.validate import validate

    cfg = SOENTrainConfig()
    cfg.training.backend = "jax"
    cfg.callbacks.lr_scheduler = {"type": "cosinus"}
    with pytest.raises(KeyError, match="did you mean 'cosine'"):
        validate(cfg)


def test_the_validation_pass_runs_the_jax_refusals() -> None:
    from soen_train.config.validate import validate

    cfg = SOENTrainConfig()
    cfg.training.backend = "jax"
    cfg.logging.log_gradients = True
    with pytest.raises(JaxUnsupportedError, match=r"logging\.log_gradients=True"):
        validate(cfg)
    cfg.training.backend = "torch"
    validate(cfg)  # the torch backend writes gradient norms


def test_model_noise_is_refused_for_training(tmp_path: Path, pulses_file: Path) -> None:
    cfg = tiny_config(tmp_path, pulses_file)
    cfg.model.architecture["layers"][1]["noise"] = {"phi": 0.01}
    paths, dm, model = repeat_inputs(cfg)
    with pytest.raises(JaxUnsupportedError, match=r"layer 1\.noise\.phi"):
        JaxTrainer(cfg, paths, dm, model, loggers=[])


def test_torch_only_losses_are_refused_with_their_position(
    tmp_path: Path, pulses_file: Path
) -> None:
    cfg = tiny_config(
        tmp_path, pulses_file, losses=[{"name": "cross_entropy"}, {"name": "branching_loss"}]
    )
    paths, dm, model = repeat_inputs(cfg)
    with pytest.raises(
        JaxUnsupportedError, match=r"training\.loss\.losses\[1\]: loss 'branching_loss'"
    ):
        JaxTrainer(cfg, paths, dm, model, loggers=[])


def test_simulator_refuses_what_it_cannot_reproduce() -> None:
    arch = zoo.pulse_net("stepwise_gauss_seidel")
    arch["simulation"]["early_stopping_forward_pass"] = True
    with pytest.raises(JaxUnsupportedError, match="early_stopping_forward_pass"):
        JaxSOEN.from_torch(SOENModel.from_yaml(arch, seed=0))
    model = SOENModel.from_yaml(zoo.pulse_net(), seed=0)
    model.set_weight_transform(lambda w: w.round(), connections=["1_to_2"])
    with pytest.raises(JaxUnsupportedError, match="connection 1_to_2 has a weight transform"):
        JaxSOEN.from_torch(model)
    model.set_weight_transform(None)
    model.set_connection_noise("0_to_1", 0.1)
    with pytest.raises(JaxUnsupportedError, match="connection 0_to_1 has connection noise"):
        JaxSOEN.from_torch(model)


def test_accelerator_without_a_jax_gpu_is_refused(tmp_path: Path, pulses_file: Path) -> None:
    import jax

    if any(d.platform == "gpu" for d in jax.devices()):
        pytest.skip("this machine has a JAX GPU")
    cfg = tiny_config(tmp_path, pulses_file, accelerator="gpu")
    paths, dm, model = repeat_inputs(cfg)
    with pytest.raises(JaxUnsupportedError, match="training.accelerator='gpu'"):
        JaxTrainer(cfg, paths, dm, model, loggers=[])


def test_every_torch_layer_type_solver_and_edge_mode_has_a_jax_twin() -> None:
    """The JAX simulator covers the whole torch catalog, so a model that trains under torch is
    never refused for its layer types, solvers or edge modes (only for noise and the settings
    listed in docs/jax.md, by name)."""
    import soen_train.jax.recurrent_layers  # noqa: F401  (registers the JAX cell layers)
    import soen_train.jax.stateless_layers  # noqa: F401
    from soen_train.jax.layers import JAX_LAYERS
    from soen_train.jax.spec_support import EDGE_MODES, JAX_SOLVERS
    from soen_train.model.dynamic_edges import EDGE_MODES as TORCH_EDGE_MODES
    from soen_train.model.layers import LAYER_TYPES, SOLVERS

    assert set(LAYER_TYPES.names()) <= set(JAX_LAYERS)
    assert set(SOLVERS) <= set(JAX_SOLVERS)
    assert set(TORCH_EDGE_MODES) <= set(EDGE_MODES)
