"""Layer dynamics in JAX: one pure step function per torch layer type, plus the PS form.

Each class mirrors a layer of ``soen_train.model.layers`` (same parameters, same update
order) so histories agree with torch to float32 rounding. A layer is static structure
(id, width, source function, solver); its numbers arrive as ``p``, a dict
``{param name: [D] array}``. States are dicts ``{"s": [B, D], ...}`` (MultiplierNOCC adds
its branch states ``s1``, ``s2``). ``dt`` is the dimensionless step (units of 1/omega_c).

- ``step(p, phi_ext_t, state, weight, dt)``: one forward-Euler step from the external flux
  of this step; the internal connection ``weight`` [D, D] (or None) adds ``s @ W^T``.
- ``linear(p, phi, dt)``: coefficients (a, b, g) of s_{t+1} = a s_t + b for the PS solver,
  only for layers whose update is linear in s (no internal connection, phi-only source).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar, Dict, Optional, Tuple

import jax
import jax.numpy as jnp

from soen_train.registry import Registry

from .errors import JaxUnsupportedError
from .source_functions import JaxSourceFunction

Array = jax.Array
State = Dict[str, Array]
Params = Dict[str, Array]


@dataclass(frozen=True, eq=False)
class JaxLayer(ABC):
    """Static description of one layer; subclasses define its dynamics."""

    layer_id: int
    dim: int
    solver: str = "FE"
    source: Optional[JaxSourceFunction] = None
    has_internal: bool = False
    param_names: Tuple[str, ...] = ()
    #: Constant per-node arrays that are not trained (e.g. a NOCC layer's fan-in).
    constants: Dict[str, object] = field(default_factory=dict, compare=False, hash=False)

    layer_type: ClassVar[str] = ""
    aux_states: ClassVar[Tuple[str, ...]] = ()
    #: True when the layerwise FE scan adds phi_offset before the internal term (torch's
    #: fused SingleDendrite scan does; the generic step loop adds it after).
    offset_first: ClassVar[bool] = False

    # -- flux -----------------------------------------------------------------------------
    def flux(self, p: Params, phi_ext_t: Array, s: Array, weight: Optional[Array]) -> Array:
        """External flux + s @ W^T (internal connection) + phi_offset, in the torch order."""
        phi = phi_ext_t
        if weight is not None:
            phi = phi + s @ weight.T
        if "phi_offset" in p:
            phi = phi + p["phi_offset"]
        return phi

    def initial_state(self, s0: Array, aux: Dict[str, Array]) -> State:
        """State dict at step 0 (auxiliary states default to zeros)."""
        state = {"s": s0}
        for key in self.aux_states:
            state[key] = aux.get(key, jnp.zeros_like(s0))
        return state

    # -- dynamics -------------------------------------------------------------------------
    def step(
        self, p: Params, phi_ext_t: Array, state: State, weight: Optional[Array], dt: Array
    ) -> Tuple[State, Array, Array]:
        """(new state, flux phi_t, drive g_t) for one step."""
        phi = self.flux(p, phi_ext_t, state["s"], weight)
        new_state, g = self.update(p, phi, state, dt)
        return new_state, phi, g

    @abstractmethod
    def update(self, p: Params, phi: Array, state: State, dt: Array) -> Tuple[State, Array]:
        """New state and drive from the total flux of the step."""

    def linear(self, p: Params, phi: Array, dt: Array) -> Tuple[Array, Array, Array]:
        """(a, b, g) of the PS recurrence; only layers that allow PS define it."""
        raise JaxUnsupportedError(
            f"layer {self.layer_id} ({self.layer_type}) has no parallel-scan form"
        )


#: Catalog of JAX layer classes, keyed by the torch catalog's canonical layer types.
JAX_LAYERS: Registry[type] = Registry("JAX layer type")


def _register(name: str):
    def deco(cls: type) -> type:
        cls.layer_type = name
        return JAX_LAYERS.register(name)(cls)

    return deco


def _sigmoid(x: Array) -> Array:
    return jax.nn.sigmoid(x)


@_register("Input")
class InputLayer(JaxLayer):
    """State = received flux (s_{t+1} = phi_t); no memory, no parameters."""

    def update(self, p: Params, phi: Array, state: State, dt: Array) -> Tuple[State, Array]:
        return {"s": phi}, phi

    def linear(self, p: Params, phi: Array, dt: Array) -> Tuple[Array, Array, Array]:
        return jnp.zeros_like(phi), phi, phi


@_register("SingleDendrite")
class SingleDendriteLayer(JaxLayer):
    """ds/dt = gamma_plus g(phi, bias_current - s) - gamma_minus s, forward Euler."""

    offset_first = True

    def update(self, p: Params, phi: Array, state: State, dt: Array) -> Tuple[State, Array]:
        s = state["s"]
        current = p["bias_current"] - s if self.source.uses_current else None
        g = self.source(phi, current)
        a = 1.0 - dt * p["gamma_minus"]
        c = dt * p["gamma_plus"]
        return {"s": s * a + c * g}, g

    def linear(self, p: Params, phi: Array, dt: Array) -> Tuple[Array, Array, Array]:
        g = self.source(phi, None)
        return 1.0 - dt * p["gamma_minus"], dt * p["gamma_plus"] * g, g


@_register("MultiplierWICC")
class MultiplierWICCLayer(JaxLayer):
    """ds/dt = gamma_plus (g(phi + phi_y, ib - s) - g(phi - phi_y, ib + s)) - gamma_minus s."""

    def drive(self, p: Params, phi: Array, s: Optional[Array]) -> Array:
        """g(+) - g(-), the rate difference of the two branches."""
        phi_y = p["phi_y"]
        if self.source.uses_current:
            bias = p["bias_current"]
            return self.source(phi + phi_y, bias - s) - self.source(phi - phi_y, bias + s)
        return self.source(phi + phi_y, None) - self.source(phi - phi_y, None)

    def update(self, p: Params, phi: Array, state: State, dt: Array) -> Tuple[State, Array]:
        s = state["s"]
        g = self.drive(p, phi, s)
        a = 1.0 - dt * p["gamma_minus"]
        c = dt * p["gamma_plus"]
        return {"s": s * a + c * g}, g

    def linear(self, p: Params, phi: Array, dt: Array) -> Tuple[Array, Array, Array]:
        g = self.drive(p, phi, None)
        return 1.0 - dt * p["gamma_minus"], dt * p["gamma_plus"] * g, g


@_register("MultiplierNOCC")
class MultiplierNOCCLayer(JaxLayer):
    """Output m with branch states s1, s2 (see the torch layer for the equations)."""

    aux_states = ("s1", "s2")

    def update(self, p: Params, phi: Array, state: State, dt: Array) -> Tuple[State, Array]:
        m, s1, s2 = state["s"], state["s1"], state["s2"]
        phi_y = p["phi_y"]
        if self.source.uses_current:
            bias = p["bias_current"]
            g1 = self.source(phi + phi_y, bias - s1)
            g2 = self.source(phi - phi_y, s2 - bias)
        else:
            g1 = self.source(phi + phi_y, None)
            g2 = self.source(phi - phi_y, None)
        alpha, beta, beta_out = p["alpha"], p["beta"], p["beta_out"]
        fan_in = jnp.asarray(self.constants["fan_in"], dtype=phi.dtype)
        beta_eff = beta + 2.0 * fan_in * beta_out
        dm = (g1 - g2 - alpha * m) / beta_eff
        ds1 = (g1 - beta_out * dm - alpha * s1) / beta
        ds2 = (g2 - beta_out * dm - alpha * s2) / beta
        return {"s": m + dt * dm, "s1": s1 + dt * ds1, "s2": s2 + dt * ds2}, g1 - g2


@_register("RNN")
class RNNLayer(JaxLayer):
    """Elman cell s_{t+1} = tanh(phi_t + bias) (the internal connection is the recurrence)."""

    def update(self, p: Params, phi: Array, state: State, dt: Array) -> Tuple[State, Array]:
        g = jnp.tanh(phi + p["bias"])
        return {"s": g}, g

    def linear(self, p: Params, phi: Array, dt: Array) -> Tuple[Array, Array, Array]:
        g = jnp.tanh(phi + p["bias"])
        return jnp.zeros_like(g), g, g


@_register("LeakyGRU")
class LeakyGRULayer(JaxLayer):
    """s_{t+1} = z s_t + (1 - z) tanh(phi_t + candidate_bias), z = sigmoid(decay_bias)."""

    def update(self, p: Params, phi: Array, state: State, dt: Array) -> Tuple[State, Array]:
        z = _sigmoid(p["decay_bias"])
        g = jnp.tanh(phi + p["candidate_bias"])
        return {"s": z * state["s"] + (1.0 - z) * g}, g

    def linear(self, p: Params, phi: Array, dt: Array) -> Tuple[Array, Array, Array]:
        z = _sigmoid(p["decay_bias"])
        g = jnp.tanh(phi + p["candidate_bias"])
        return jnp.broadcast_to(z, g.shape), (1.0 - z) * g, g


@_register("MinGRU")
class MinGRULayer(JaxLayer):
    """s_{t+1} = (1 - z_t) s_t + z_t (phi_t + candidate_bias).

    z_t = sigmoid(gate_scale phi_t + gate_bias).
    """

    def update(self, p: Params, phi: Array, state: State, dt: Array) -> Tuple[State, Array]:
        z = _sigmoid(phi * p["gate_scale"] + p["gate_bias"])
        g = phi + p["candidate_bias"]
        return {"s": (1.0 - z) * state["s"] + z * g}, g

    def linear(self, p: Params, phi: Array, dt: Array) -> Tuple[Array, Array, Array]:
        z = _sigmoid(phi * p["gate_scale"] + p["gate_bias"])
        g = phi + p["candidate_bias"]
        return 1.0 - z, z * g, g


@_register("NonLinear")
class NonLinearLayer(JaxLayer):
    """Memoryless s_{t+1} = f(phi_t + phi_offset, bias_current) through a source function."""

    def _apply(self, p: Params, phi: Array) -> Array:
        if self.source.uses_current:
            return self.source(phi, jnp.broadcast_to(p["bias_current"], phi.shape))
        return self.source(phi, None)

    def update(self, p: Params, phi: Array, state: State, dt: Array) -> Tuple[State, Array]:
        g = self._apply(p, phi)
        return {"s": g}, g

    def linear(self, p: Params, phi: Array, dt: Array) -> Tuple[Array, Array, Array]:
        g = self._apply(p, phi)
        return jnp.zeros_like(g), g, g
