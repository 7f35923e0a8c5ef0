"""``JaxSOEN``: a pure-function JAX simulator of a ``SOENModel`` (same spec, same weights).

    jax_model, params = JaxSOEN.from_torch(model)
    histories = jax_model.apply(params, x)          # {layer_id: [B, T+1, D]}, jit-compiled
    sim = jax_model.simulate(params, x, track_g=True)  # + phi / g / final NOCC states
    model_state = jax_model.to_torch_state(params)  # {name: torch.Tensor} for the torch model

The structure comes from ``model.spec`` (the architecture dict), the numbers from
``model.parameters_by_name()`` (keys ``layers.<id>.<param>``, ``connections.<a>_to_<b>``
and ``dt`` when it is learnable) and the fixed buffers from ``model.state_dict()``
(connection masks, NOCC fan-in). ``params`` is a flat dict pytree with exactly the keys of
``parameters_by_name()``; ``trainable`` says which of them the torch model trains.

The simulator reproduces the model in evaluation mode. Features that change the torch
forward pass but have no JAX counterpart (noise and perturbation, run-time weight
transforms, forward early stopping) raise ``JaxUnsupportedError`` naming them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any, Dict, FrozenSet, List, Mapping, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from .constraints import JaxConstraints, constraints_from_spec
from .edges import JaxEdge
from .errors import JaxUnsupportedError
from .layers import JAX_LAYERS, JaxLayer
from .network import JaxConnection, JaxNetwork, JaxSimulation
from .source_functions import jax_source_function
from .spec_support import JAX_SOLVERS, check_architecture

Array = jax.Array
Params = Dict[str, Array]


def _noise_settings(spec: Mapping[str, Any]) -> List[str]:
    """'where.key' of every non-zero noise or perturbation setting in an architecture dict."""
    found: List[str] = []
    entries = [(f"layer {lay['layer_id']}", lay) for lay in spec.get("layers", [])]
    entries += [
        (f"connection {c['from_layer']}->{c['to_layer']}", c) for c in spec.get("connections", [])
    ]
    for where, entry in entries:
        for block in ("noise", "perturb"):
            for key, value in (entry.get(block) or {}).items():
                if key == "relative":
                    continue
                if isinstance(value, Mapping):
                    found += [
                        f"{where}.{block}.{key}.{k}" for k, v in value.items() if float(v) != 0.0
                    ]
                elif float(value) != 0.0:
                    found.append(f"{where}.{block}.{key}")
    return found


def _source_of(torch_layer: Any, params: Mapping[str, Any]) -> Optional[str]:
    """The source function the torch layer evaluates (its instance first, then the spec)."""
    from soen_train.model.source_functions import source_function_name

    source = getattr(torch_layer, "source", None)
    if source is not None:
        return source_function_name(source)
    return params.get("source_func") or None


def _layer_from_torch(
    entry: Mapping[str, Any],
    torch_layer: Any,
    has_internal: bool,
    torch_names: Tuple[str, ...],
    buffers: Dict[str, np.ndarray],
) -> JaxLayer:
    """The JAX layer for one entry of ``spec['layers']`` and its torch layer."""
    from soen_train.model.layers import LAYER_TYPES

    layer_type = LAYER_TYPES.canonical(str(entry["layer_type"]))
    lid = int(entry["layer_id"])
    cls = JAX_LAYERS.get(layer_type)  # check_architecture refused types JAX lacks
    params = entry.get("params") or {}
    source_name = _source_of(torch_layer, params)
    source = jax_source_function(source_name) if source_name else None
    if source is None and cls.needs_source:
        raise JaxUnsupportedError(f"layer {lid} ({layer_type}): the spec names no source_func")
    raw_solver = str(getattr(torch_layer, "solver", params.get("solver", "FE"))).upper()
    solver = JAX_SOLVERS[raw_solver]  # check_architecture refused solvers JAX lacks
    if solver == "PS" and (not cls.has_parallel_form() or (has_internal and cls.reads_internal)):
        raise JaxUnsupportedError(
            f"layer {lid} ({layer_type}): solver PS has no JAX form for this layer"
            + (" with an internal connection" if has_internal else "")
            + "; use solver: FE"
        )
    options = dict(getattr(torch_layer, "options", {}) or {})
    for key, value in params.items():
        options.setdefault(key, value)
    return cls(
        layer_id=lid,
        dim=int(params["dim"]),
        solver=solver,
        source=source,
        has_internal=has_internal,
        param_map=cls.map_params(lid, torch_names),
        constants=cls.constants_from(options, buffers),
    )


@dataclass(frozen=True)
class JaxSOEN:
    """A SOEN network as pure JAX functions plus the metadata to map it back to torch."""

    network: JaxNetwork
    spec: Dict[str, Any] = field(compare=False, hash=False)
    trainable: FrozenSet[str] = frozenset()
    constraints: JaxConstraints = field(default=None, compare=False, hash=False)  # type: ignore[assignment]
    noise_settings: Tuple[str, ...] = ()

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_torch(cls, model: Any) -> Tuple["JaxSOEN", Params]:
        """(jax_model, params) from a ``SOENModel``; params keyed like ``parameters_by_name()``."""
        spec = model.spec
        check_architecture(spec)
        sim = spec.get("simulation", {})
        method = str(sim.get("network_evaluation_method", "layerwise"))
        _check_runtime_transforms(model)
        named = model.parameters_by_name()
        state = model.state_dict()
        params = {name: jnp.asarray(t.detach().cpu().numpy()) for name, t in named.items()}
        trainable = frozenset(name for name, t in named.items() if t.requires_grad)
        internal_ids = {
            int(c["from_layer"]) for c in spec["connections"] if c["from_layer"] == c["to_layer"]
        }
        layers = []
        for entry in sorted(spec["layers"], key=lambda e: int(e["layer_id"])):
            lid = int(entry["layer_id"])
            prefix = f"layers.{lid}."
            names = tuple(k[len(prefix) :] for k in named if k.startswith(prefix))
            buffers = {
                k[len(prefix) :]: v.detach().cpu().numpy()
                for k, v in state.items()
                if k.startswith(prefix) and k not in named
            }
            torch_layer = model.layer(lid)
            layers.append(
                _layer_from_torch(entry, torch_layer, lid in internal_ids, names, buffers)
            )
        connections = []
        for entry in spec["connections"]:
            name = f"{int(entry['from_layer'])}_to_{int(entry['to_layer'])}"
            mask_key = f"connections.{name}.mask"
            if mask_key not in state:
                raise JaxUnsupportedError(
                    f"connection {name}: the model's state holds no mask '{mask_key}'"
                )
            mask = state[mask_key].detach().cpu().numpy().astype(np.float32)
            connections.append(
                JaxConnection(
                    name=name,
                    from_layer=int(entry["from_layer"]),
                    to_layer=int(entry["to_layer"]),
                    mask=mask,
                    edge=_edge_of(model, name),
                )
            )
        network = JaxNetwork(
            layers=tuple(layers),
            connections=tuple(connections),
            input_type=str(sim.get("input_type", "state")),
            method=method,
            dt=float(model.dt),
        )
        jax_model = cls(
            network=network,
            spec=spec,
            trainable=trainable,
            constraints=constraints_from_spec(spec, connections, named),
            noise_settings=tuple(_noise_settings(spec)),
        )
        return jax_model, params

    # -- simulation -----------------------------------------------------------------------
    @property
    def layer_ids(self) -> List[int]:
        """Layer ids in evaluation order."""
        return self.network.layer_ids

    @property
    def output_layer(self) -> int:
        """Id of the last layer, whose history is the model output."""
        return self.network.layer_ids[-1]

    def simulate(
        self,
        params: Params,
        x: Any,
        initial_states: Optional[Mapping[Any, Any]] = None,
        track_phi: bool = False,
        track_g: bool = False,
    ) -> JaxSimulation:
        """Every layer's history (and tracked phi/g), jit-compiled per input shape.

        phi/g are tracked when asked here or by the spec's ``simulation.track_phi/track_g``.
        """
        x = self._check_input(x)
        sim = self.spec.get("simulation", {}) or {}
        track_phi = bool(track_phi or sim.get("track_phi", False))
        track_g = bool(track_g or sim.get("track_g", False))
        init = None if initial_states is None else self.network.normalise_state_keys(initial_states)
        return _simulate_jit(self.network, params, x, init, bool(track_phi), bool(track_g))

    def apply(
        self, params: Params, x: Any, initial_states: Optional[Mapping[Any, Any]] = None
    ) -> Dict[int, Array]:
        """{layer_id: history [B, T+1, D]} for inputs x [B, T, D_in]."""
        return self.simulate(params, x, initial_states).states

    def output(
        self, params: Params, x: Any, initial_states: Optional[Mapping[Any, Any]] = None
    ) -> Array:
        """The last layer's history [B, T+1, D_out] (what ``model(x)`` returns in torch)."""
        return self.apply(params, x, initial_states)[self.output_layer]

    def simulate_traced(
        self,
        params: Params,
        x: Array,
        initial_states: Optional[Mapping[Any, Any]] = None,
        track_phi: bool = False,
        track_g: bool = False,
    ) -> JaxSimulation:
        """``simulate`` without its own jit, for use inside a jitted/differentiated function."""
        init = None if initial_states is None else self.network.normalise_state_keys(initial_states)
        return self.network.simulate(params, x, init, track_phi, track_g)

    def _check_input(self, x: Any) -> Array:
        arr = jnp.asarray(x, dtype=jnp.float32)
        dim = self.network.layers[0].dim
        if arr.ndim != 3 or arr.shape[-1] != dim or arr.shape[1] < 1:
            raise ValueError(
                f"input must be [batch, steps >= 1, {dim}], got shape {tuple(arr.shape)}"
            )
        return arr

    # -- parameters -----------------------------------------------------------------------
    def split(self, params: Params) -> Tuple[Params, Params]:
        """(trainable, frozen) parts of ``params`` (the torch model's ``requires_grad``)."""
        train = {k: v for k, v in params.items() if k in self.trainable}
        frozen = {k: v for k, v in params.items() if k not in self.trainable}
        return train, frozen

    def enforce_constraints(self, params: Params) -> Params:
        """Clamp parameters to their bounds and re-apply masks (``model.enforce_constraints``)."""
        return self.constraints.apply(params)

    def connection_weights(self, params: Params, learnable_only: bool = True) -> Dict[str, Array]:
        """{'<from>_to_<to>': weight * mask} (learnable ones by default), as torch gives them."""
        out = {}
        learnable = {
            f"{int(c['from_layer'])}_to_{int(c['to_layer'])}": bool(c.get("learnable", True))
            for c in self.spec["connections"]
        }
        for conn in self.network.connections:
            if learnable[conn.name] or not learnable_only:
                out[conn.name] = self.network.weight(params, conn)
        return out

    @staticmethod
    def to_torch_state(params: Params) -> Dict[str, Any]:
        """{name: torch.Tensor} keyed like ``parameters_by_name()`` (float32, CPU)."""
        import torch

        return {
            name: torch.from_numpy(np.array(value, dtype=np.float32, copy=True))
            for name, value in params.items()
        }

    def write_to_torch(self, params: Params, model: Any) -> Any:
        """Copy ``params`` into a ``SOENModel`` with the same spec (in place); returns the model."""
        import torch

        named = model.parameters_by_name()
        missing = sorted(set(named) - set(params))
        extra = sorted(set(params) - set(named))
        if missing or extra:
            raise JaxUnsupportedError(
                f"parameters do not match the torch model: missing {missing}, unexpected {extra}"
            )
        state = self.to_torch_state(params)
        with torch.no_grad():
            for name, tensor in named.items():
                if tuple(tensor.shape) != tuple(state[name].shape):
                    raise JaxUnsupportedError(
                        f"parameter '{name}' has shape {tuple(state[name].shape)} in JAX but "
                        f"{tuple(tensor.shape)} in the torch model"
                    )
                tensor.copy_(state[name].to(dtype=tensor.dtype, device=tensor.device))
        return model


@partial(jax.jit, static_argnums=(0, 4, 5))
def _simulate_jit(
    network: JaxNetwork,
    params: Params,
    x: Array,
    init: Optional[Dict[Any, Array]],
    track_phi: bool,
    track_g: bool,
) -> JaxSimulation:
    return network.simulate(params, x, init, track_phi, track_g)


def _edge_of(model: Any, name: str) -> Optional[JaxEdge]:
    """The JAX edges of connection ``name`` when it is dynamic (WICC / NOCC), else None."""
    conn = model.connection(name)
    return JaxEdge.from_torch(conn) if getattr(conn, "is_dynamic", False) else None


def _check_runtime_transforms(model: Any) -> None:
    """Refuse run-time connection settings that change the torch forward but not the spec."""
    for name in list(getattr(model, "connections", {}) or {}):
        conn = model.connection(name)
        if getattr(conn, "transform", None) is not None:
            raise JaxUnsupportedError(
                f"connection {name} has a weight transform (e.g. QAT) set with "
                "set_weight_transform; the JAX backend cannot run it: clear it (None) or use "
                "training.backend=torch"
            )
        if float(getattr(conn, "extra_noise_std", 0.0) or 0.0) != 0.0:
            raise JaxUnsupportedError(
                f"connection {name} has connection noise (set_connection_noise); the JAX backend "
                "has no noise: set it to 0 or use training.backend=torch"
            )
