"""Layer dynamics in JAX: the physical layers here, the others in their own modules.

Each class mirrors a layer of the original toolkit as ``soen_train.model.layers`` builds it
(same parameters, same update order), so histories agree with torch to float32 rounding.
See ``layer_base`` for the interface. Importing this module registers every JAX layer:
``stateless_layers`` (Input/Linear, NonLinear, DendriteReadout, ScalingLayer, Softmax) and
``recurrent_layers`` (RNN, GRU, LSTM, LeakyGRU, MinGRU). Each registers against its
declaration in ``soen_train.catalog.layers``; a declared layer type without a JAX class
fails when this module is imported.
"""

from __future__ import annotations

from typing import Optional, Tuple

import jax.numpy as jnp

from soen_train.catalog.layers import LAYER_CATALOG

from .layer_base import JAX_LAYERS, Array, JaxLayer, Params, Role, State, register_layer, roles
from .recurrent_layers import GRULayer, LeakyGRULayer, LSTMLayer, MinGRULayer, RNNLayer
from .stateless_layers import (
    DendriteReadoutLayer,
    InputLayer,
    NonLinearLayer,
    ScalingLayer,
    SoftmaxLayer,
)

#: Added under the square root of the smooth absolute value of the NOCC SQUID currents.
SOFT_ABS_EPS = 0.01


def soft_abs(v: Array) -> Array:
    """sqrt(v^2 + 0.01): the smooth |v| the original feeds to NOCC source functions [Ic]."""
    return jnp.sqrt(v * v + SOFT_ABS_EPS)


@register_layer("SingleDendrite")
class SingleDendriteLayer(JaxLayer):
    """ds/dt = gamma_plus g(phi, bias_current - s) - gamma_minus s, forward Euler."""

    needs_source = True
    ROLES = roles("phi_offset", "bias_current", "gamma_plus", "gamma_minus")
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


@register_layer("MultiplierWICC")
class MultiplierWICCLayer(JaxLayer):
    """ds/dt = gamma_plus (g(phi + phi_y, ib - s) - g(phi - phi_y, ib + s)) - gamma_minus s."""

    needs_source = True
    ROLES = roles("phi_y", "bias_current", "gamma_plus", "gamma_minus")

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


@register_layer("MultiplierNOCC")
class MultiplierNOCCLayer(JaxLayer):
    """Output m with branch states s1, s2 (original_model_extras section 3).

    Per step, with fan-in N_i = the number of non-zero entries in row i of the layer's own
    internal weight (1 without one; inter-layer connections never count):

        g1 = g(phi + phi_y, soft_abs(ib - s1)),  g2 = g(phi - phi_y, soft_abs(s2 - ib))
        dm  = (g1 - g2 - alpha m) / (beta + 2 N beta_out)
        ds1 = (g1 - beta_out dm - alpha s1) / beta,  ds2 = (g2 - beta_out dm - alpha s2) / beta

    then m, s1, s2 advance together by forward Euler. The internal term uses m.
    """

    needs_source = True
    ROLES = roles("phi_y", "bias_current", "alpha", "beta", "beta_out")
    aux_states = ("s1", "s2")

    def step(
        self,
        p: Params,
        phi_ext_t: Array,
        state: State,
        weight: Optional[Array],
        dt: Array,
        internal_flux: Optional[Array] = None,
    ) -> Tuple[State, Array, Array]:
        phi = self.flux(p, phi_ext_t, state["s"], weight, internal_flux)
        if weight is None:
            fan_in = jnp.ones((self.dim,), phi.dtype)
        else:  # counted on the current weights: an entry trained to exactly 0 stops counting
            fan_in = jnp.sum(jnp.abs(weight) > 0, axis=1).astype(phi.dtype)
        new_state, g = self._advance(p, phi, state, dt, fan_in)
        return new_state, phi, g

    def update(self, p: Params, phi: Array, state: State, dt: Array) -> Tuple[State, Array]:
        return self._advance(p, phi, state, dt, jnp.ones((self.dim,), phi.dtype))

    def _advance(
        self, p: Params, phi: Array, state: State, dt: Array, fan_in: Array
    ) -> Tuple[State, Array]:
        m, s1, s2 = state["s"], state["s1"], state["s2"]
        phi_y = p["phi_y"]
        if self.source.uses_current:
            bias = p["bias_current"]
            g1 = self.source(phi + phi_y, soft_abs(bias - s1))
            g2 = self.source(phi - phi_y, soft_abs(s2 - bias))
        else:
            g1 = self.source(phi + phi_y, None)
            g2 = self.source(phi - phi_y, None)
        alpha, beta, beta_out = p["alpha"], p["beta"], p["beta_out"]
        dm = (g1 - g2 - alpha * m) / (beta + 2.0 * fan_in * beta_out)
        ds1 = (g1 - beta_out * dm - alpha * s1) / beta
        ds2 = (g2 - beta_out * dm - alpha * s2) / beta
        return {"s": m + dt * dm, "s1": s1 + dt * ds1, "s2": s2 + dt * ds2}, g1 - g2


LAYER_CATALOG.check_complete("jax")

__all__ = [
    "JAX_LAYERS",
    "DendriteReadoutLayer",
    "GRULayer",
    "InputLayer",
    "JaxLayer",
    "LSTMLayer",
    "LeakyGRULayer",
    "MinGRULayer",
    "MultiplierNOCCLayer",
    "MultiplierWICCLayer",
    "NonLinearLayer",
    "RNNLayer",
    "Role",
    "ScalingLayer",
    "SingleDendriteLayer",
    "SoftmaxLayer",
    "State",
    "soft_abs",
]
