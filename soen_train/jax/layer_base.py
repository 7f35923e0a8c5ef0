"""The JAX layer interface: static structure, the parameters a layer reads, and its step.

A layer is static structure (id, width, source function, solver, options); its numbers
arrive as ``p``, a dict ``{role: array}``. Each layer class declares the roles it reads in
``ROLES``; a role lists the names the torch layer may give that tensor (the part of a
``parameters_by_name()`` key after ``layers.<id>.``), and ``JaxSOEN.from_torch`` maps the
torch names onto the roles once, refusing a torch parameter that no role reads (it would
change the torch numbers but not the JAX ones). States are dicts ``{"s": [B, D], ...}``.
``dt`` is the dimensionless step (units of 1/omega_c).

- ``step(p, phi_ext_t, state, weight, dt)``: one step from the external flux of this step;
  the internal connection ``weight`` [D, D] (or None) adds ``s @ W^T`` for the layers that
  read it (``reads_internal``); the stateless ones ignore it, as the original does.
- ``linear(p, phi, dt)``: coefficients (a, b, g) of s_{t+1} = a s_t + b for the PS solver,
  only for layers whose update is linear in s (no internal connection, phi-only source).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Dict, Mapping, Optional, Tuple

import jax
import jax.numpy as jnp

from soen_train.catalog.layers import LAYER_CATALOG
from soen_train.registry import Registry

from .errors import JaxUnsupportedError
from .source_functions import JaxSourceFunction

Array = jax.Array
State = Dict[str, Array]
Params = Dict[str, Array]


@dataclass(frozen=True)
class Role:
    """A tensor a JAX layer reads, with the torch parameter names that can hold it."""

    name: str
    aliases: Tuple[str, ...] = ()

    @property
    def torch_names(self) -> Tuple[str, ...]:
        """Accepted torch names, the role's own name first."""
        return (self.name,) + self.aliases


@dataclass(frozen=True, eq=False)
class JaxLayer(ABC):
    """Static description of one layer; subclasses define its dynamics."""

    layer_id: int
    dim: int
    solver: str = "FE"
    source: Optional[JaxSourceFunction] = None
    has_internal: bool = False
    #: (role, torch parameter name) pairs: where each role's tensor lives in ``params``.
    param_map: Tuple[Tuple[str, str], ...] = ()
    #: Constant arrays or settings that are not trained (from buffers or the spec).
    constants: Dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    layer_type: ClassVar[str] = ""
    ROLES: ClassVar[Tuple[Role, ...]] = ()
    #: True for layers driven by a source function g(phi, i).
    needs_source: ClassVar[bool] = False
    aux_states: ClassVar[Tuple[str, ...]] = ()
    #: States carried by the scan but never exposed or settable (e.g. the LSTM cell c).
    hidden_states: ClassVar[Tuple[str, ...]] = ()
    #: False for layers whose internal connection never enters the forward (the original
    #: builds it but the stateless classes take no connectivity).
    reads_internal: ClassVar[bool] = True
    #: False for layers whose history starts at zero whatever initial state is given.
    accepts_initial_state: ClassVar[bool] = True
    #: True when the layerwise FE scan adds phi_offset before the internal term (torch's
    #: fused SingleDendrite scan does; the generic step loop adds it after).
    offset_first: ClassVar[bool] = False

    # -- parameters -----------------------------------------------------------------------
    @classmethod
    def map_params(cls, layer_id: int, torch_names: Tuple[str, ...]) -> Tuple[Tuple[str, str], ...]:
        """(role, torch name) for every role; refuses missing roles and unread torch tensors."""
        label = f"layer {layer_id} ({cls.layer_type})"
        mapping = []
        used = set()
        for role in cls.ROLES:
            found = [n for n in role.torch_names if n in torch_names]
            if not found:
                raise JaxUnsupportedError(
                    f"{label}: the torch layer has no parameter for '{role.name}' (looked for "
                    f"{', '.join(role.torch_names)}; it has {', '.join(torch_names) or 'none'}); "
                    "the JAX backend cannot reproduce it: use training.backend=torch"
                )
            mapping.append((role.name, found[0]))
            used.update(found)
        unread = [n for n in torch_names if n not in used]
        if unread:
            raise JaxUnsupportedError(
                f"{label}: torch parameter(s) {', '.join(unread)} have no JAX counterpart "
                f"(the JAX layer reads {', '.join(r.name for r in cls.ROLES) or 'none'}); "
                "use training.backend=torch"
            )
        return tuple(mapping)

    @classmethod
    def constants_from(
        cls, options: Mapping[str, Any], buffers: Mapping[str, Any]
    ) -> Dict[str, Any]:
        """Fixed settings of the layer from its spec options and torch buffers (none here)."""
        return {}

    # -- flux -----------------------------------------------------------------------------
    def flux(
        self,
        p: Params,
        phi_ext_t: Array,
        s: Array,
        weight: Optional[Array],
        internal_flux: Optional[Array] = None,
    ) -> Array:
        """External flux + internal term + phi_offset, in the torch order.

        The internal term is ``s @ W^T`` for a fixed internal connection, or
        ``internal_flux`` (the updated output of a dynamic one) when given.
        """
        phi = phi_ext_t
        if self.reads_internal:
            if internal_flux is not None:
                phi = phi + internal_flux
            elif weight is not None:
                phi = phi + s @ weight.T
        if "phi_offset" in p:
            phi = phi + p["phi_offset"]
        return phi

    def initial_state(self, s0: Array, aux: Dict[str, Array]) -> State:
        """State dict at step 0 (auxiliary and hidden states default to zeros)."""
        state = {"s": s0 if self.accepts_initial_state else jnp.zeros_like(s0)}
        for key in self.aux_states:
            state[key] = aux.get(key, jnp.zeros_like(s0))
        for key in self.hidden_states:
            state[key] = jnp.zeros_like(s0)
        return state

    # -- dynamics -------------------------------------------------------------------------
    def step(
        self,
        p: Params,
        phi_ext_t: Array,
        state: State,
        weight: Optional[Array],
        dt: Array,
        internal_flux: Optional[Array] = None,
    ) -> Tuple[State, Array, Array]:
        """(new state, flux phi_t, drive g_t) for one step."""
        phi = self.flux(p, phi_ext_t, state["s"], weight, internal_flux)
        new_state, g = self.update(p, phi, state, dt)
        return new_state, phi, g

    @abstractmethod
    def update(self, p: Params, phi: Array, state: State, dt: Array) -> Tuple[State, Array]:
        """New state and drive from the total flux of the step."""

    def linear(self, p: Params, phi: Array, dt: Array) -> Tuple[Array, Array, Array]:
        """(a, b, g) of the PS recurrence; only layers that allow PS define it (g None: the
        drive is the state itself)."""
        raise JaxUnsupportedError(
            f"layer {self.layer_id} ({self.layer_type}) has no parallel-scan form"
        )

    @classmethod
    def has_parallel_form(cls) -> bool:
        """True when the class defines the PS coefficients."""
        return cls.linear is not JaxLayer.linear


#: Catalog of JAX layer classes, keyed by the layer types declared in ``soen_train.catalog.layers``.
JAX_LAYERS: Registry[type] = LAYER_CATALOG.registry("jax")


def register_layer(name: str):
    """Class decorator: register a JAX layer against its declared layer type (aliases come
    from the declaration); a layer that reads no role for a declared param is refused."""

    def deco(cls: type) -> type:
        cls.layer_type = name
        return LAYER_CATALOG.jax(name)(cls)

    return deco


def roles(*names: str) -> Tuple[Role, ...]:
    """Roles whose torch name is the role name itself."""
    return tuple(Role(n) for n in names)
