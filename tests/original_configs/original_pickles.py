"""Writes JAX checkpoints in the layout of the original toolkit's JAX trainer (a pickled dict,
protocol 4), with real optax optimiser state and a stand-in for soen_toolkit's model class."""

from __future__ import annotations

import dataclasses
import pickle
import sys
import types
from pathlib import Path

import numpy as np

RNG = np.random.default_rng(0)
PHI = RNG.uniform(0.0, 0.1, 3)
BIAS = RNG.uniform(1.8, 2.0, 3)
J01 = RNG.uniform(-0.2, 0.2, (3, 2))
J12 = RNG.uniform(-0.2, 0.2, (2, 3))
J11 = RNG.uniform(-0.1, 0.1, (3, 3))
MASK11 = 1.0 - np.eye(3)


def _fake_toolkit_class():
    """A stand-in for soen_toolkit's equinox model class, importable while the file is written."""
    name = "soen_toolkit.utils.port_to_jax.eqx_model"
    module = types.ModuleType(name)

    @dataclasses.dataclass
    class SoenEqxModel:
        layer_params: tuple
        topology: dict

    SoenEqxModel.__module__ = name
    SoenEqxModel.__qualname__ = "SoenEqxModel"
    module.SoenEqxModel = SoenEqxModel
    for parent in ("soen_toolkit", "soen_toolkit.utils", "soen_toolkit.utils.port_to_jax"):
        sys.modules.setdefault(parent, types.ModuleType(parent))
    sys.modules[name] = module
    return SoenEqxModel


def _opt_state():
    """An optax Adam state whose moments mirror the params as toolkit model objects."""
    import jax
    import optax

    cls = _fake_toolkit_class()
    params = {"w": np.zeros(3, dtype=np.float32)}
    state = jax.device_get(optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-3)).init(params))
    moments = cls(layer_params=(np.ones((4, 3)),), topology={"dt": 37.0})
    return (state, moments)


def _layer_rows():
    return (
        np.zeros((0, 2)),
        np.stack([PHI, BIAS, np.full(3, 1e-3), np.full(3, 1e-6)]),
        np.stack([np.zeros(2), np.full(2, 1.9), np.full(2, 2e-3), np.full(2, 2e-6)]),
    )


def _padded():
    out = np.zeros((2, 3, 3))
    out[0, :3, :2] = J01
    out[1, :2, :3] = J12
    return out


def _jax_model():
    def layer(lid, kind, dim, internal=None, mask=None):
        return {"layer_id": lid, "kind": kind, "dim": dim, "params": {}, "internal_J": internal,
                "internal_mask": mask, "source_key": "RateArray", "internal_mode": "fixed",
                "internal_dynamic_params": None}

    def conn(src, dst, weights, index):
        return {"from_layer": src, "to_layer": dst, "J": weights.tolist(), "mask": None, "index": index,
                "mode": "fixed", "source_key": "RateArray", "gamma_plus": 0.001, "bias_current": 2.0,
                "j_in": 0.38, "j_out": 0.38, "alpha": 1.64, "beta": 303.85, "beta_out": 91.156,
                "half_flux_offset": False}

    return {
        "dt": 37.0, "network_evaluation_method": "layerwise", "input_type": "state",
        "layers": [layer(0, "Linear", 2), layer(1, "SingleDendrite", 3, J11.tolist(), MASK11.tolist()),
                   layer(2, "SingleDendrite", 2)],
        "connections": [conn(0, 1, J01, 0), conn(1, 2, J12, 1)],
        "connection_constraints": {},
    }


def write_original_pickle(path: Path, with_model: bool = True) -> Path:
    """A checkpoint in the layout of the original's JAX trainer (checkpoint_version 1.0.0)."""
    data = {
        "params": {"layer_params": _layer_rows(), "connection_params": _padded(),
                   "internal_connections": {1: J11 * MASK11}},
        "opt_state": _opt_state(),
        "epoch": 4, "global_step": 250, "val_loss": np.float32(0.61), "checkpoint_version": "1.0.0",
    }
    if with_model:
        data["jax_model"] = _jax_model()
        data["topology"] = {"layer_param_shapes": [[0, 2], [4, 3], [4, 2]],
                            "connection_param_shapes": [[3, 2], [2, 3]],
                            "learnable_connections": [True, False], "edge_learnable": [],
                            "internal_learnable": {1: True}, "dt": 37.0}
    path.write_bytes(pickle.dumps(data, protocol=4))
    return path


# A second model: GRU, LSTM and MinGRU layers joined by WICC / NOCC / fixed edges, and a
# SingleDendrite whose internal connection is a WICC edge (Linear(2) -> GRU(3) -> LSTM(2) ->
# MinGRU(2) -> SingleDendrite(2)).
GRU_W = tuple(RNG.uniform(-0.5, 0.5, shape) for shape in ((3, 3, 3), (3, 3, 3), (3, 3), (3, 3)))
LSTM_W = tuple(RNG.uniform(-0.5, 0.5, shape) for shape in ((4, 2, 2), (4, 2, 2), (4, 2), (4, 2)))
MINGRU_W = RNG.uniform(-0.5, 0.5, (2, 2, 2))
SD_ROWS = np.stack([np.full(2, 0.05), np.full(2, 1.9), np.full(2, 1e-3), np.full(2, 1e-6)])
EDGE_J = [RNG.uniform(0.1, 0.3, (3, 2)), RNG.uniform(0.1, 0.3, (2, 3)), RNG.uniform(-0.3, 0.3, (2, 2)),
          RNG.uniform(-0.3, 0.3, (2, 2))]
EDGE_MASK01 = np.array([[1.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
J44 = RNG.uniform(0.05, 0.1, (2, 2))
WICC_JOUT = [0.6, 0.5, 0.7]


def _recurrent_jax_model():
    def layer(lid, kind, dim, **extra):
        entry = {"layer_id": lid, "kind": kind, "dim": dim, "params": {}, "internal_J": None,
                 "internal_mask": None, "source_key": "RateArray", "internal_mode": "fixed",
                 "internal_dynamic_params": None}
        entry.update(extra)
        return entry

    def conn(src, dst, index, mode, **circuit):
        entry = {"from_layer": src, "to_layer": dst, "J": EDGE_J[index].tolist(), "mask": None, "index": index,
                 "mode": mode, "source_key": "RateArray", "gamma_plus": 0.001, "bias_current": 2.0,
                 "j_in": 0.38, "j_out": 0.38, "alpha": 1.64053, "beta": 303.85, "beta_out": 91.156,
                 "half_flux_offset": False}
        entry.update(circuit)
        return entry

    internal = {"source_key": "RateArray", "gamma_plus": 0.002, "bias_current": 2.0, "j_in": 0.38,
                "j_out": 0.5, "half_flux_offset": False}
    return {
        "dt": 37.0, "network_evaluation_method": "layerwise", "input_type": "state",
        "layers": [layer(0, "Linear", 2), layer(1, "GRU", 3), layer(2, "LSTM", 2), layer(3, "MinGRU", 2),
                   layer(4, "SingleDendrite", 2, internal_J=J44.tolist(), internal_mode="WICC",
                         internal_dynamic_params=internal)],
        "connections": [conn(0, 1, 0, "WICC", mask=EDGE_MASK01.tolist(), j_out=WICC_JOUT, gamma_plus=0.003),
                        conn(1, 2, 1, "NOCC", bias_current=2.1, j_out=0.3),
                        conn(2, 3, 2, "fixed"), conn(3, 4, 3, "fixed")],
        "connection_constraints": {},
    }


def write_recurrent_pickle(path: Path) -> Path:
    """An original JAX checkpoint of GRU/LSTM/MinGRU layers with dynamic (WICC/NOCC) edges."""
    padded = np.zeros((4, 3, 3))
    for index, weight in enumerate(EDGE_J):
        masked = weight * EDGE_MASK01 if index == 0 else weight
        padded[index, : weight.shape[0], : weight.shape[1]] = masked
    data = {
        "params": {"layer_params": (np.zeros((0, 2)), GRU_W, LSTM_W, MINGRU_W, SD_ROWS),
                   "connection_params": padded, "internal_connections": {4: J44}},
        "opt_state": _opt_state(), "epoch": 2, "global_step": 30, "val_loss": 0.5,
        "checkpoint_version": "1.0.0", "jax_model": _recurrent_jax_model(),
        "topology": {"learnable_connections": [True, True, True, True], "internal_learnable": {4: True},
                     "dt": 37.0},
    }
    path.write_bytes(pickle.dumps(data, protocol=4))
    return path
