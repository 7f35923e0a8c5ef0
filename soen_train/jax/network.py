"""Network evaluation in JAX: layerwise, stepwise Gauss-Seidel and stepwise Jacobi.

The rules are those of ``soen_train.model.evaluation``:

- histories are [B, T+1, D] with index 0 the initial state and index t+1 the state after
  step t;
- the first layer (lowest id) with ``input_type: state`` takes the input as its states;
  with ``input_type: flux`` the input is added to its external flux;
- ``layerwise``: each layer runs over all T steps (one ``lax.scan``, or an associative scan
  for the PS solver) before the next; its external flux is one matrix product per incoming
  connection over the whole source history;
- ``stepwise_gauss_seidel``: one ``lax.scan`` over time; within a step, layers update in id
  order and an edge from a lower id sees the source's state of the same step, an edge from
  a higher id (feedback) the previous one;
- ``stepwise_jacobi``: every flux comes from the previous step's states.

Everything here is a pure function of ``(params, x, initial states)``, so it can be
``jit``-ed and differentiated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from soen_train.model.result import split_state_key

from .dendrite_scan import dendrite_scan
from .edges import EdgeState, JaxEdge, edge_sequence
from .layers import InputLayer, JaxLayer, SingleDendriteLayer, State
from .spec_support import METHODS

Array = jax.Array
Params = Dict[str, Array]

__all__ = ["METHODS", "JaxConnection", "JaxNetwork", "JaxSimulation", "run_layer_sequence"]


@dataclass(frozen=True, eq=False)
class JaxConnection:
    """One connection J [to, from]: its parameter key and its fixed 0/1 mask."""

    name: str  # "<from>_to_<to>"
    from_layer: int
    to_layer: int
    mask: np.ndarray  # [to, from], float32
    #: The edge circuits of a dynamic (WICC / NOCC) connection; None for a fixed one.
    edge: Optional[JaxEdge] = None

    @property
    def param_key(self) -> str:
        """Key of the weight in the parameter pytree."""
        return f"connections.{self.name}"


class JaxSimulation(NamedTuple):
    """One simulation: histories per layer id, tracked phi/g, final auxiliary states."""

    states: Dict[int, Array]  # [B, T+1, D]
    phi: Dict[int, Array]  # [B, T, D] when tracked
    g: Dict[int, Array]  # [B, T, D] when tracked
    aux_final: Dict[int, Dict[str, Array]]  # e.g. NOCC {"s1": [B, D], "s2": [B, D]}


@dataclass(frozen=True, eq=False)
class JaxNetwork:
    """Static structure of a model: layers in id order, connections, global settings.

    Hashing is by identity: ``jit`` compiles once per network object, and two networks
    that differ only in their masks can never share a compiled program.
    """

    layers: Tuple[JaxLayer, ...]
    connections: Tuple[JaxConnection, ...]
    input_type: str
    method: str
    dt: float  # used when dt is not a parameter

    # -- structure ------------------------------------------------------------------------
    @property
    def layer_ids(self) -> List[int]:
        """Layer ids in evaluation order (ascending)."""
        return [layer.layer_id for layer in self.layers]

    def incoming(self, layer_id: int) -> List[JaxConnection]:
        """External connections into ``layer_id``, in spec order."""
        return [c for c in self.connections if c.to_layer == layer_id and c.from_layer != layer_id]

    def internal(self, layer_id: int) -> Optional[JaxConnection]:
        """The layer's connection to itself, if any and if the layer reads it."""
        layer = next(la for la in self.layers if la.layer_id == layer_id)
        if not layer.reads_internal:
            return None
        for c in self.connections:
            if c.to_layer == layer_id and c.from_layer == layer_id:
                return c
        return None

    @property
    def effective_method(self) -> str:
        """The evaluation method that runs: ``layerwise`` with a feedback edge (to a lower
        or equal id, not a self edge) runs as ``stepwise_gauss_seidel``, as the original
        switches (a later layer's history does not exist yet when an earlier one runs)."""
        feedback = any(c.to_layer < c.from_layer for c in self.connections)
        if self.method == "layerwise" and feedback:
            return "stepwise_gauss_seidel"
        return self.method

    # -- parameters -----------------------------------------------------------------------
    @staticmethod
    def weight(params: Params, conn: JaxConnection) -> Array:
        """Masked weight matrix of a connection (masked entries contribute nothing)."""
        w = params[conn.param_key]
        return w * jnp.asarray(conn.mask, dtype=w.dtype)

    @staticmethod
    def layer_params(params: Params, layer: JaxLayer) -> Dict[str, Array]:
        """{role: array} of one layer (the roles its class declares, from the torch names)."""
        return {role: params[f"layers.{layer.layer_id}.{name}"] for role, name in layer.param_map}

    def time_step(self, params: Params) -> Array:
        """dt: the ``dt`` parameter when the model trains it, else the fixed value."""
        if "dt" in params:
            return params["dt"]
        return jnp.asarray(self.dt, dtype=jnp.float32)

    # -- initial states -------------------------------------------------------------------
    def initial_states(
        self, batch: int, dtype: jnp.dtype, given: Optional[Dict[int, Dict[str, Array]]]
    ) -> Dict[int, State]:
        """Per-layer state dicts at step 0: zeros, or the given [B, D] / [D] arrays.

        ``given`` is ``{layer_id: {"s": ..., "s1": ..., "s2": ...}}`` (any subset).
        """
        given = given or {}
        out: Dict[int, State] = {}
        for layer in self.layers:
            lid = layer.layer_id
            supplied = dict(given.get(lid, {}))
            s0 = supplied.pop("s", None)
            s0 = (
                jnp.zeros((batch, layer.dim), dtype)
                if s0 is None
                else _batched(s0, batch, layer, "s")
            )
            aux = {key: _batched(value, batch, layer, key) for key, value in supplied.items()}
            out[lid] = layer.initial_state(s0, aux)
        return out

    def normalise_state_keys(self, given: Mapping[Any, Any]) -> Dict[int, Dict[str, Array]]:
        """``{layer_id: {name: array}}`` from keys ``id``, ``(id, name)`` or ``"id.name"``."""
        by_id = {layer.layer_id: layer for layer in self.layers}
        out: Dict[int, Dict[str, Array]] = {}
        for key, value in given.items():
            lid, name = split_state_key(key)
            if lid not in by_id:
                raise KeyError(
                    f"initial_states key {key!r}: no layer {lid}; layers are {sorted(by_id)}"
                )
            valid = ("s",) + by_id[lid].aux_states
            if name == "s" and not by_id[lid].accepts_initial_state:
                raise KeyError(
                    f"initial_states key {key!r}: layer {lid} ({by_id[lid].layer_type}) always "
                    "starts from zero and takes no initial state"
                )
            if name not in valid:
                raise KeyError(f"initial_states key {key!r}: layer {lid} has states {list(valid)}")
            out.setdefault(lid, {})[str(name)] = jnp.asarray(value, dtype=jnp.float32)
        return out

    # -- evaluation -----------------------------------------------------------------------
    def simulate(
        self,
        params: Params,
        x: Array,
        initial_states: Optional[Dict[int, Dict[str, Array]]] = None,
        track_phi: bool = False,
        track_g: bool = False,
    ) -> JaxSimulation:
        """Run the network on x [B, T, D_in]; returns every layer's history."""
        init = self.initial_states(x.shape[0], x.dtype, initial_states)
        method = self.effective_method
        if method == "layerwise":
            return self._layerwise(params, x, init, track_phi, track_g)
        return self._stepwise(
            params, x, init, track_phi, track_g, jacobi=method == "stepwise_jacobi"
        )

    def _layerwise(
        self, params: Params, x: Array, init: Dict[int, State], track_phi: bool, track_g: bool
    ) -> JaxSimulation:
        """Layer after layer; histories are time-major [T+1, B, D] until the end."""
        dt = self.time_step(params)
        first = self.layers[0].layer_id
        x_tm = jnp.swapaxes(x, 0, 1)
        states: Dict[int, Array] = {}
        phis: Dict[int, Array] = {}
        drives: Dict[int, Array] = {}
        aux_final: Dict[int, Dict[str, Array]] = {}
        for layer in self.layers:
            lid = layer.layer_id
            s0 = init[lid]
            if lid == first and self.input_type == "state":
                states[lid] = jnp.concatenate([s0["s"][None], x_tm], axis=0)
                phis[lid], drives[lid] = x_tm, x_tm
                continue
            phi_ext = x_tm if (lid == first and self.input_type == "flux") else None
            for conn in self.incoming(lid):
                source, weight = states[conn.from_layer][1:], self.weight(params, conn)
                if conn.edge is None:
                    flux = source @ weight.T
                else:
                    flux = edge_sequence(conn.edge, source, weight, dt)
                phi_ext = flux if phi_ext is None else phi_ext + flux
            if phi_ext is None:
                phi_ext = jnp.zeros((x.shape[1], x.shape[0], layer.dim), x.dtype)
            internal = self.internal(lid)
            weight = self.weight(params, internal) if internal is not None else None
            hist, phi, g, final = run_layer_sequence(
                layer,
                self.layer_params(params, layer),
                phi_ext,
                s0,
                weight,
                dt,
                track_phi or track_g,
                edge=internal.edge if internal is not None else None,
            )
            states[lid] = hist
            if phi is not None:
                phis[lid], drives[lid] = phi, g
            if layer.aux_states:
                aux_final[lid] = {k: final[k] for k in layer.aux_states}
        return JaxSimulation(
            states={k: jnp.swapaxes(v, 0, 1) for k, v in states.items()},
            phi={k: jnp.swapaxes(v, 0, 1) for k, v in phis.items()} if track_phi else {},
            g={k: jnp.swapaxes(v, 0, 1) for k, v in drives.items()} if track_g else {},
            aux_final=aux_final,
        )

    def _stepwise(
        self,
        params: Params,
        x: Array,
        init: Dict[int, State],
        track_phi: bool,
        track_g: bool,
        jacobi: bool,
    ) -> JaxSimulation:
        dt = self.time_step(params)
        first = self.layers[0].layer_id
        layer_p = {layer.layer_id: self.layer_params(params, layer) for layer in self.layers}
        weights = {c.name: self.weight(params, c) for c in self.connections}
        internals = {layer.layer_id: self.internal(layer.layer_id) for layer in self.layers}
        track = track_phi or track_g

        batch = x.shape[0]
        edges0 = {c.name: c.edge.zeros(batch, x.dtype) for c in self.connections if c.edge}

        def body(carry: Tuple[Dict[int, State], Dict[str, EdgeState]], x_t: Array):
            prev, edge_prev = carry
            edge_new = dict(edge_prev)
            fresh: Dict[int, State] = {}
            phis: Dict[int, Array] = {}
            drives: Dict[int, Array] = {}
            for layer in self.layers:
                lid = layer.layer_id
                if lid == first and self.input_type == "state":
                    fresh[lid] = {"s": x_t}
                    phis[lid] = drives[lid] = x_t
                    continue
                phi_ext = x_t if (lid == first and self.input_type == "flux") else None
                for conn in self.incoming(lid):
                    src = conn.from_layer
                    s_src = fresh[src]["s"] if (not jacobi and src in fresh) else prev[src]["s"]
                    if conn.edge is None:
                        contribution = s_src @ weights[conn.name].T
                    else:
                        advanced = conn.edge.advance(edge_prev[conn.name], s_src, weights[conn.name], dt)
                        edge_new[conn.name] = advanced
                        # Jacobi delivers the edge states from before this step's update
                        contribution = conn.edge.output(edge_prev[conn.name] if jacobi else advanced)
                    phi_ext = contribution if phi_ext is None else phi_ext + contribution
                if phi_ext is None:
                    phi_ext = jnp.zeros((x_t.shape[0], layer.dim), x_t.dtype)
                internal = internals[lid]
                weight = weights[internal.name] if internal is not None else None
                internal_flux = None
                if internal is not None and internal.edge is not None:
                    # a dynamic internal edge advances with the layer's state before this step
                    advanced = internal.edge.advance(edge_prev[internal.name], prev[lid]["s"], weight, dt)
                    edge_new[internal.name] = advanced
                    internal_flux = internal.edge.output(advanced)
                fresh[lid], phis[lid], drives[lid] = layer.step(
                    layer_p[lid], phi_ext, prev[lid], weight, dt, internal_flux
                )
            out = {lid: fresh[lid]["s"] for lid in fresh}
            return (fresh, edge_new), (out, phis if track else {}, drives if track else {})

        (final, _), (steps, phis, drives) = jax.lax.scan(
            body, (init, edges0), jnp.swapaxes(x, 0, 1)
        )  # time-major
        states = {
            lid: jnp.concatenate(
                [init[lid]["s"][:, None, :], jnp.swapaxes(steps[lid], 0, 1)], axis=1
            )
            for lid in self.layer_ids
        }
        aux_final = {
            layer.layer_id: {k: final[layer.layer_id][k] for k in layer.aux_states}
            for layer in self.layers
            if layer.aux_states
        }
        return JaxSimulation(
            states=states,
            phi={k: jnp.swapaxes(v, 0, 1) for k, v in phis.items()} if track_phi else {},
            g={k: jnp.swapaxes(v, 0, 1) for k, v in drives.items()} if track_g else {},
            aux_final=aux_final,
        )


def run_layer_sequence(
    layer: JaxLayer,
    p: Dict[str, Array],
    phi_ext: Array,
    state0: State,
    weight: Optional[Array],
    dt: Array,
    track: bool,
    edge: Optional[JaxEdge] = None,
) -> Tuple[Array, Optional[Array], Optional[Array], State]:
    """One layer over a whole time-major sequence (layerwise evaluation).

    ``phi_ext`` is [T, B, D]; ``edge`` is the layer's dynamic internal connection, if any
    (its states persist over the whole sequence). Returns (history [T+1, B, D],
    phi [T, B, D] or None, g [T, B, D] or None, final state).
    """
    if edge is not None:
        return _dynamic_internal(layer, p, phi_ext, state0, weight, dt, track, edge)
    if isinstance(layer, InputLayer) and weight is None:
        hist = jnp.concatenate([state0["s"][None], phi_ext], axis=0)
        return hist, phi_ext, phi_ext, {"s": hist[-1]}
    if layer.solver == "PS":
        return _parallel(layer, p, phi_ext, state0, dt, track)
    if isinstance(layer, SingleDendriteLayer) and weight is None:
        return _known_flux_dendrite(layer, p, phi_ext, state0, dt, track)
    if layer.offset_first and "phi_offset" in p:
        pre = phi_ext + p["phi_offset"]
        p_inner = {k: v for k, v in p.items() if k != "phi_offset"}
    else:
        pre, p_inner = phi_ext, p

    def body(state: State, pre_t: Array):
        new_state, phi, g = layer.step(p_inner, pre_t, state, weight, dt)
        return new_state, (new_state["s"], phi, g) if track else (new_state["s"],)

    final, outs = jax.lax.scan(body, state0, pre)
    hist = jnp.concatenate([state0["s"][None], outs[0]], axis=0)
    if not track:
        return hist, None, None, final
    return hist, outs[1], outs[2], final


def _dynamic_internal(
    layer: JaxLayer,
    p: Dict[str, Array],
    phi_ext: Array,
    state0: State,
    weight: Array,
    dt: Array,
    track: bool,
    edge: JaxEdge,
) -> Tuple[Array, Optional[Array], Optional[Array], State]:
    """Step loop of a layer whose internal connection is dynamic: at each step the edges
    advance with the layer's current state and their updated output joins the flux."""

    def body(carry: Tuple[State, EdgeState], phi_t: Array):
        state, edge_state = carry
        edge_state = edge.advance(edge_state, state["s"], weight, dt)
        new_state, phi, g = layer.step(p, phi_t, state, weight, dt, edge.output(edge_state))
        return (new_state, edge_state), (new_state["s"], phi, g) if track else (new_state["s"],)

    init = (state0, edge.zeros(phi_ext.shape[1], phi_ext.dtype))
    (final, _), outs = jax.lax.scan(body, init, phi_ext)
    hist = jnp.concatenate([state0["s"][None], outs[0]], axis=0)
    if not track:
        return hist, None, None, final
    return hist, outs[1], outs[2], final


def _known_flux_dendrite(
    layer: SingleDendriteLayer,
    p: Dict[str, Array],
    phi_ext: Array,
    state0: State,
    dt: Array,
    track: bool,
) -> Tuple[Array, Optional[Array], Optional[Array], State]:
    """SingleDendrite without an internal connection: the flux of every step is known up front,
    so the source's flux part runs once over all steps and the gradient is the adjoint
    recursion of ``dendrite_scan`` (as the torch fused scan)."""
    phi = phi_ext + p["phi_offset"]
    a = 1.0 - dt * p["gamma_minus"]
    c = dt * p["gamma_plus"]
    hist, rates = dendrite_scan(layer.source, phi, state0["s"], a, c, p["bias_current"])
    final = {"s": hist[-1]}
    return (hist, phi, rates, final) if track else (hist, None, None, final)


def _parallel(
    layer: JaxLayer, p: Dict[str, Array], phi_ext: Array, state0: State, dt: Array, track: bool
) -> Tuple[Array, Optional[Array], Optional[Array], State]:
    """PS solver: s_{t+1} = a_t s_t + b_t solved by an associative scan over (leading) time."""
    phi = phi_ext + p["phi_offset"] if "phi_offset" in p else phi_ext
    a, b, g = layer.linear(p, phi, dt)
    a = jnp.broadcast_to(a, b.shape)
    s0 = state0["s"]
    b = b.at[0].add(a[0] * s0)

    def combine(left: Tuple[Array, Array], right: Tuple[Array, Array]) -> Tuple[Array, Array]:
        a1, b1 = left
        a2, b2 = right
        return a2 * a1, a2 * b1 + b2

    _, acc = jax.lax.associative_scan(combine, (a, b), axis=0)
    hist = jnp.concatenate([s0[None], acc], axis=0)
    drive = acc if g is None else g  # None: the layer's drive is its state (MinGRU)
    return hist, (phi if track else None), (drive if track else None), {"s": hist[-1]}


def _batched(value: Array, batch: int, layer: JaxLayer, key: str) -> Array:
    """An initial state given as [D] or [B, D], broadcast to [B, D] (error on a bad shape)."""
    arr = jnp.asarray(value)
    if arr.ndim == 1 and arr.shape[0] == layer.dim:
        return jnp.broadcast_to(arr, (batch, layer.dim))
    if arr.ndim == 2 and arr.shape == (batch, layer.dim):
        return arr
    raise ValueError(
        f"initial state '{key}' of layer {layer.layer_id} has shape {tuple(arr.shape)}; "
        f"expected [{layer.dim}] or [{batch}, {layer.dim}]"
    )
