"""Memoryless JAX layers: the state of a step is a function of that step's flux only.

None of them reads an internal (L->L) connection: the original builds one (weights, mask)
but these classes take no connectivity, so it never enters the forward.

- Input / Linear:   s_{t+1} = phi_t
- NonLinear:        s_{t+1} = f(phi_t + phi_offset, i = bias_current)
- DendriteReadout:  s_{t+1} = g(phi_t + phi_offset, i = bias_current); history[0] = 0
- ScalingLayer:     s_{t+1} = scale_factor * phi_t
- Softmax:          s_{t+1} = softmax(beta * phi_t) over the nodes
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Tuple

import jax
import jax.numpy as jnp

from .layer_base import Array, JaxLayer, Params, State, register_layer, roles


class _Memoryless(JaxLayer):
    """s_{t+1} = out(p, phi_t): PS form a = 0, b = out."""

    reads_internal = False

    @abstractmethod
    def out(self, p: Params, phi: Array) -> Array:
        """The new state from the total flux of the step."""

    def update(self, p: Params, phi: Array, state: State, dt: Array) -> Tuple[State, Array]:
        g = self.out(p, phi)
        return {"s": g}, g

    def linear(self, p: Params, phi: Array, dt: Array) -> Tuple[Array, Array, Array]:
        g = self.out(p, phi)
        return jnp.zeros_like(g), g, g


@register_layer("Input")
class InputLayer(_Memoryless):
    """State = received flux; no memory, no parameters."""

    def out(self, p: Params, phi: Array) -> Array:
        return phi


class _SourceAtBias(_Memoryless):
    """f(phi + phi_offset, i = bias_current): the current is the constant bias, not bias - s."""

    ROLES = roles("phi_offset", "bias_current")
    needs_source = True

    def out(self, p: Params, phi: Array) -> Array:
        if self.source.uses_current:
            return self.source(phi, jnp.broadcast_to(p["bias_current"], phi.shape))
        return self.source(phi, None)


@register_layer("NonLinear")
class NonLinearLayer(_SourceAtBias):
    """Memoryless map through a source function (default Tanh)."""


@register_layer("DendriteReadout")
class DendriteReadoutLayer(_SourceAtBias):
    """Physical read-out; its history starts at 0 whatever initial state is given."""

    accepts_initial_state = False


@register_layer("ScalingLayer")
class ScalingLayer(_Memoryless):
    """Per-node gain on the flux."""

    ROLES = roles("scale_factor")

    def out(self, p: Params, phi: Array) -> Array:
        return p["scale_factor"] * phi


@register_layer("Softmax")
class SoftmaxLayer(_Memoryless):
    """Softmax over the nodes of the flux scaled per node by beta."""

    ROLES = roles("beta")

    def out(self, p: Params, phi: Array) -> Array:
        return jax.nn.softmax(p["beta"] * phi, axis=-1)
