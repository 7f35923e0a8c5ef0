"""Common machinery of every layer: per-node parameters, solvers, and the time loop.

A layer advances its state one step at a time with ``step`` (used by the stepwise
network solvers and by the generic layerwise loop) and can run a whole sequence at once
with ``run_sequence`` (layerwise evaluation; subclasses override it with faster paths).
The flux a layer receives at step t is ``phi_ext_t`` (sum of incoming connections,
computed by the network) plus, for a layer with an internal connection, ``s_t @ J^T``.
Sequences are time-major inside the simulator: [T, B, D], so each step is contiguous.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from ..connections import Connection
from ..distributions import draw_values
from ..noise import NoiseRuntime
from ..parallel_scan import linear_scan
from ..source_functions import build_source_function
from ..spec_types import LayerSpec

SOLVERS: tuple[str, ...] = ("FE", "PS")


@dataclass(frozen=True)
class ParamDef:
    """A per-node parameter: default value, hard bounds and default learnability."""

    name: str
    default: float
    minimum: float | None = None
    maximum: float | None = None
    learnable: bool = False
    doc: str = ""


@dataclass(frozen=True)
class OptionDef:
    """A non-tensor layer setting (solver, source function, ...)."""

    name: str
    default: Any
    kind: str  # "solver" | "source" | "float"
    aliases: tuple[str, ...] = ()
    doc: str = ""


def source_func_option(default: str, doc: str = "source function g(phi, i)") -> OptionDef:
    """The `source_func` option (alias `source_func_type`) of a layer driven by a source function."""
    return OptionDef("source_func", default, "source", aliases=("source_func_type",), doc=doc)


@dataclass
class LayerRunContext:
    """What a layer needs to know about the current forward pass."""

    dt: Tensor  # dimensionless step (scalar tensor; may be a learnable parameter)
    training: bool
    noise: NoiseRuntime
    batch: int
    steps: int
    track_phi: bool = False
    track_g: bool = False


@dataclass
class LayerHistory:
    """Result of running one layer over a sequence."""

    states: Tensor  # [T+1, B, D] (time-major), index 0 = initial state
    aux_final: dict[str, Tensor] = field(default_factory=dict)  # e.g. s1/s2 at the last step
    phi: Tensor | None = None  # [T, B, D] flux seen by the layer
    g: Tensor | None = None  # [T, B, D] drive (source-function output)


class InternalWeight:
    """A layer's internal connection for one forward pass (with optional per-step noise)."""

    def __init__(self, connection: Connection, base: Tensor, training: bool,
                 layer_noise: NoiseRuntime) -> None:
        self.connection = connection
        self.base = base
        self.training = training
        self.layer_noise = layer_noise

    @property
    def has_step_noise(self) -> bool:
        """True when J changes from step to step (fresh noise on the weights)."""
        return self.connection.step_noise_std(self.training) != 0.0 or self.layer_noise.has_step_noise("j")

    def at_step(self) -> Tensor:
        """J for one step: the forward's base weight plus fresh per-step noise, if any."""
        weight = self.connection.step_weight(self.base, self.training)
        sample = self.layer_noise.step_sample("j", weight)
        if sample is not None:
            weight = weight + sample * self.connection.mask
        return weight


class SOENLayer(nn.Module, ABC):
    """Base class of all layers (physical and virtual)."""

    layer_type: ClassVar[str] = ""
    PARAMS: ClassVar[tuple[ParamDef, ...]] = ()
    OPTIONS: ClassVar[tuple[OptionDef, ...]] = (
        OptionDef("solver", "FE", "solver", doc="FE (forward Euler) or PS (parallel scan)"),
    )
    AUX_STATES: ClassVar[tuple[str, ...]] = ()
    PHYSICAL: ClassVar[bool] = False

    def __init__(self, spec: LayerSpec, *, generator: torch.Generator | None,
                 materialize: bool, has_internal: bool) -> None:
        super().__init__()
        self.spec = spec
        self.layer_id = int(spec.layer_id)
        self.dim = int(spec.dim)
        self.options = dict(spec.options)
        self.has_internal = bool(has_internal)
        source = next((o for o in self.OPTIONS if o.name == "source_func"), None)
        if source is not None:  # built before parallel_scan_blocker(), which may consult it
            self.source = build_source_function(self.options.get("source_func", source.default))
        self._bounds: dict[str, tuple[float | None, float | None]] = {}
        for definition in self.PARAMS:
            init = spec.params[definition.name]
            if materialize:
                values = draw_values(init.distribution, init.params, self.dim, generator)
            else:
                values = torch.zeros(self.dim)
            param = nn.Parameter(values, requires_grad=init.learnable)
            self.register_parameter(definition.name, param)
            self._bounds[definition.name] = (init.minimum, init.maximum)
        blocker = self.parallel_scan_blocker()
        if self.solver == "PS" and blocker is not None:
            raise ValueError(
                f"layer {self.layer_id} ({self.layer_type}): solver PS is not available: {blocker}; "
                "use solver: FE"
            )
        if materialize:
            self.enforce_constraints()

    # -- description ------------------------------------------------------------------
    @property
    def solver(self) -> str:
        """'FE' or 'PS'."""
        return str(self.options.get("solver", "FE"))

    @classmethod
    def param_names(cls) -> list[str]:
        """Names of the per-node parameters of this layer type."""
        return [p.name for p in cls.PARAMS]

    def noise_keys(self) -> list[str]:
        """Keys ``set_noise`` accepts for this layer: core keys it uses plus parameter names."""
        keys = ["phi", "g", "s"]
        if "bias_current" in self.param_names():
            keys.append("bias_current")
        if self.has_internal:
            keys.append("j")
        keys.extend(p for p in self.param_names() if p not in keys)
        return keys

    def parallel_scan_blocker(self) -> str | None:
        """Why PS cannot solve this layer (None when it can)."""
        return f"{self.layer_type} layers have no parallel-scan form"

    # -- parameters -------------------------------------------------------------------
    def bounds(self, name: str) -> tuple[float | None, float | None]:
        """(min, max) constraint of parameter ``name``."""
        return self._bounds[name]

    @torch.no_grad()
    def enforce_constraints(self) -> None:
        """Clamp every parameter into its [min, max] in place."""
        for name, (lo, hi) in self._bounds.items():
            if lo is None and hi is None:
                continue
            getattr(self, name).clamp_(min=lo, max=hi)

    def prepare(self, ctx: LayerRunContext) -> dict[str, Tensor]:
        """Parameter values for this forward: [D], or [B, D] where a perturbation applies."""
        values: dict[str, Tensor] = {}
        for name in self.param_names():
            values[name] = ctx.noise.perturbed(name, getattr(self, name))
        return values

    def step_param(self, values: dict[str, Tensor], name: str, ctx: LayerRunContext) -> Tensor:
        """A parameter value for one step (adds fresh per-step noise when configured)."""
        value = values[name]
        if not ctx.noise.has_step_noise(name):
            return value
        value = value.expand(ctx.batch, self.dim)
        return value + ctx.noise.step_sample(name, value)

    def param_step_noise_active(self, ctx: LayerRunContext) -> bool:
        """True when any parameter (other than bias_current) gets per-step noise."""
        return any(ctx.noise.has_step_noise(p) for p in self.param_names() if p != "bias_current")

    # -- state ------------------------------------------------------------------------
    def initial_state(self, s0: Tensor, aux: dict[str, Tensor]) -> dict[str, Tensor]:
        """State dict at step 0 from the main state and any auxiliary ones."""
        state = {"s": s0}
        for key in self.AUX_STATES:
            state[key] = aux.get(key, torch.zeros_like(s0))
        return state

    # -- dynamics ---------------------------------------------------------------------
    def flux(self, phi_ext_t: Tensor, s: Tensor, weight_t: Tensor | None,
             values: dict[str, Tensor], ctx: LayerRunContext) -> Tensor:
        """Total flux of one step: external + internal + offset (if any) + phi noise."""
        phi = phi_ext_t
        if weight_t is not None:
            phi = phi + s @ weight_t.t()
        if "phi_offset" in values:
            phi = phi + self.step_param(values, "phi_offset", ctx)
        return ctx.noise.apply_step("phi", phi)

    @abstractmethod
    def step(self, phi_ext_t: Tensor, state: dict[str, Tensor], weight_t: Tensor | None,
             values: dict[str, Tensor], ctx: LayerRunContext
             ) -> tuple[dict[str, Tensor], Tensor, Tensor]:
        """Advance one step: returns (new state dict, flux phi_t, drive g_t)."""

    # -- sequences --------------------------------------------------------------------
    def run_sequence(self, phi_ext: Tensor, state0: dict[str, Tensor],
                     internal: InternalWeight | None, ctx: LayerRunContext) -> LayerHistory:
        """Run all T steps (layerwise evaluation); phi_ext is [T, B, D]."""
        values = self.prepare(ctx)
        if self.solver == "PS":
            return self.run_parallel(phi_ext, state0, values, ctx)
        return self.run_steps(phi_ext, state0, internal, values, ctx)

    def run_steps(self, phi_ext: Tensor, state0: dict[str, Tensor],
                  internal: InternalWeight | None, values: dict[str, Tensor],
                  ctx: LayerRunContext) -> LayerHistory:
        """Generic step-by-step loop (states collected in a list and stacked once)."""
        state = state0
        states = [state["s"]]
        phis: list[Tensor] = []
        drives: list[Tensor] = []
        static_weight = internal.base if (internal is not None and not internal.has_step_noise) else None
        for phi_t in phi_ext.unbind(0):
            weight_t = static_weight if static_weight is not None else (
                internal.at_step() if internal is not None else None)
            state, phi, g = self.step(phi_t, state, weight_t, values, ctx)
            states.append(state["s"])
            if ctx.track_phi:
                phis.append(phi)
            if ctx.track_g:
                drives.append(g)
        return LayerHistory(
            states=torch.stack(states, dim=0),
            aux_final={k: state[k] for k in self.AUX_STATES},
            phi=torch.stack(phis, dim=0) if ctx.track_phi else None,
            g=torch.stack(drives, dim=0) if ctx.track_g else None,
        )

    def run_parallel(self, phi_ext: Tensor, state0: dict[str, Tensor],
                     values: dict[str, Tensor], ctx: LayerRunContext) -> LayerHistory:
        """PS solver: build (a_t, b_t) for all steps, then one associative scan.

        Only reached for layers whose ``parallel_scan_blocker`` is None; those define
        ``linear_coefficients(phi, values, ctx) -> (a, b, g)`` with s_{t+1} = a*s_t + b.
        """
        if ctx.noise.relative and ctx.noise.has_step_noise("s"):
            raise ValueError(
                f"layer {self.layer_id}: the PS solver cannot apply relative noise on s "
                "(it depends on the unknown state); use solver: FE"
            )
        phi = phi_ext
        if "phi_offset" in values:
            phi = phi + values["phi_offset"]
            if ctx.noise.has_step_noise("phi_offset"):
                phi = phi + ctx.noise.step_sample("phi_offset", phi)
        phi = ctx.noise.apply_step("phi", phi)
        a, b, g = self.linear_coefficients(phi, values, ctx)
        s_noise = ctx.noise.perturbed("s", torch.zeros_like(b))
        sample = ctx.noise.step_sample("s", b)
        if sample is not None:
            s_noise = s_noise + sample
        states = linear_scan(a, b + s_noise, state0["s"])
        return LayerHistory(states=states, aux_final={}, phi=phi if ctx.track_phi else None,
                            g=g if ctx.track_g else None)
