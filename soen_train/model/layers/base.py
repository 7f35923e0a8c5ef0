"""Common machinery of every layer: per-node parameters, solvers, and the time loop.

A layer advances its state one step at a time with ``step`` (used by the stepwise
network solvers and by the generic layerwise loop) and can run a whole sequence at once
with ``run_sequence`` (layerwise evaluation; subclasses override it with faster paths).
The flux a layer receives at step t is ``phi_ext_t`` (sum of incoming connections,
computed by the network) plus, for a layer with an internal connection, ``s_t @ J^T``
(memoryless layers never apply one: ``accepts_internal_connection``).
Sequences are time-major inside the simulator: [T, B, D], so each step is contiguous.
Parameter names follow the original toolkit, and ``load_original_state`` places the
tensors of an original state_dict into a layer.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from soen_train.errors import OriginalStateError

from ..connections import Connection
from ..distributions import draw_values
from ..dynamic_edges import EdgeRunner, EdgeStep, internal_flux
from ..noise import NoiseRuntime
from ..parallel_scan import linear_scan
from ..source_functions import RateArray, build_source_function
from ..spec_types import LayerSpec
from ..validation import ArchitectureError

#: FE: forward Euler step by step; PS: parallel scan of a recurrence linear in s; PARARNN:
#: Newton iterations on the FE recurrence, each a parallel scan (SingleDendrite only).
SOLVERS: tuple[str, ...] = ("FE", "PS", "PARARNN")

#: Keys of an original layer's state_dict that hold copies of its RateArray table
#: (``_source_function.g_table``, ``_dynamics._source_function.g_table``, ... and the legacy
#: spellings without the underscore).
_RATE_TABLE_KEY = re.compile(r"^(_?(source_function|dynamics|solver)\.)*_?source_function\.g_table$")


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
    kind: str  # "solver" | "source" | "float" | "custom" (parsed by ``parse``)
    aliases: tuple[str, ...] = ()
    doc: str = ""
    #: For kind "custom": ``parse(value, where) -> value`` validates a YAML value (raising an
    #: ArchitectureError naming ``where``) and returns the plain Python value to keep.
    parse: Callable[[Any, str], Any] | None = None


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
    """A layer's internal connection for one forward pass (with optional per-step noise).

    For a dynamic (WICC/NOCC) internal connection ``edge`` holds its edge states for this
    forward; ``at_step`` then returns an ``EdgeStep`` that ``SOENLayer.flux`` advances with
    the layer's current state, so the edges keep their states across the whole sequence.
    """

    def __init__(self, connection: Connection, base: Tensor, training: bool,
                 layer_noise: NoiseRuntime, edge: EdgeRunner | None = None) -> None:
        self.connection = connection
        self.base = base
        self.training = training
        self.layer_noise = layer_noise
        self.edge = edge

    @property
    def has_step_noise(self) -> bool:
        """True when J changes from step to step (fresh noise on the weights)."""
        return self.connection.step_noise_std(self.training) != 0.0 or self.layer_noise.has_step_noise("j")

    @property
    def is_static(self) -> bool:
        """True when every step uses the same matrix ``base`` (fixed mode, no per-step noise)."""
        return self.edge is None and not self.has_step_noise

    def at_step(self) -> Tensor | EdgeStep:
        """J for one step: the forward's base weight plus fresh per-step noise, if any."""
        weight = self.connection.step_weight(self.base, self.training)
        sample = self.layer_noise.step_sample("j", weight)
        if sample is not None:
            weight = weight + sample * self.connection.mask
        if self.edge is not None:
            return EdgeStep(self.edge, weight)
        return weight


class SOENLayer(nn.Module, ABC):
    """Base class of all layers (physical and virtual)."""

    layer_type: ClassVar[str] = ""
    PARAMS: ClassVar[tuple[ParamDef, ...]] = ()
    OPTIONS: ClassVar[tuple[OptionDef, ...]] = (
        OptionDef("solver", "FE", "solver", doc="FE (forward Euler), PS (parallel scan) or PARARNN (Newton + scans; SingleDendrite)"),
    )
    AUX_STATES: ClassVar[tuple[str, ...]] = ()
    PHYSICAL: ClassVar[bool] = False
    #: False for memoryless layers (Input/Linear, NonLinear, ScalingLayer, Softmax,
    #: DendriteReadout): like the original toolkit they never apply an internal (L->L)
    #: connection, even when the architecture defines one; the loader warns about it.
    accepts_internal_connection: ClassVar[bool] = True

    def __init__(self, spec: LayerSpec, *, generator: torch.Generator | None,
                 materialize: bool, has_internal: bool, dt: float | None = None) -> None:
        """Build the layer's tensors.

        ``generator`` draws every random initial value (global torch RNG when None);
        ``materialize`` False leaves tensors at zero (values are loaded next);
        ``has_internal`` says whether the architecture has an L->L connection for it;
        ``dt`` is the model's simulation step at build time (dimensionless), which only
        layers whose default initial values depend on it read (LeakyGRU).
        """
        super().__init__()
        self.spec = spec
        self.layer_id = int(spec.layer_id)
        self.dim = int(spec.dim)
        self.options = dict(spec.options)
        self.has_internal = bool(has_internal) and self.accepts_internal_connection
        self.build_dt = dt
        source = next((o for o in self.OPTIONS if o.name == "source_func"), None)
        if source is not None:  # built before parallel_scan_blocker(), which may consult it
            self.source = build_source_function(self.options.get("source_func", source.default))
        self._bounds: dict[str, tuple[float | None, float | None]] = {}
        for definition in self.PARAMS:
            init = spec.params[definition.name]
            param = nn.Parameter(torch.zeros(self.dim), requires_grad=init.learnable)
            self.register_parameter(definition.name, param)
            self._bounds[definition.name] = (init.minimum, init.maximum)
        # The original's order: sub-module tensors first, then per-node parameters, those
        # the YAML names in the order it names them (only distributions draw random numbers).
        self.build_tensors(generator, materialize)
        if materialize:
            self._draw_params(generator)
        blocker = self.solver_blocker(self.solver)
        if blocker is not None:
            raise ArchitectureError(
                f"layer {self.layer_id} ({self.layer_type}): solver {self.solver} is not available: "
                f"{blocker}; use solver: FE"
            )
        if materialize:
            self.enforce_constraints()

    def build_tensors(self, generator: torch.Generator | None, materialize: bool) -> None:
        """Create (and, if ``materialize``, initialise) tensors beyond the per-node parameters.

        Called before the per-node parameters are drawn, matching the original's RNG order.
        """

    def derived_defaults(self) -> dict[str, Tensor]:
        """Initial values [D] of parameters whose default the layer computes (e.g. from dt).

        Used only for parameters the architecture does not name; a named one is drawn from
        its own spec.
        """
        return {}

    @torch.no_grad()
    def _draw_params(self, generator: torch.Generator | None) -> None:
        named = [n for n in self.spec.param_order if n in self.spec.params]
        derived = self.derived_defaults()
        for name in named + [n for n in self.param_names() if n not in named]:
            init = self.spec.params[name]
            if name in derived and name not in named:
                values = derived[name]
            else:
                values = draw_values(init.distribution, init.params, self.dim, generator)
            getattr(self, name).copy_(values)

    # -- description ------------------------------------------------------------------
    @property
    def solver(self) -> str:
        """'FE', 'PS' or 'PARARNN'."""
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

    def solver_blocker(self, solver: str) -> str | None:
        """Why ``solver`` cannot integrate this layer (None when it can)."""
        if solver == "FE":
            return None
        if solver == "PS":
            return self.parallel_scan_blocker()
        return f"{solver} is a solver of SingleDendrite layers only"

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

    # -- original toolkit files ---------------------------------------------------------
    @torch.no_grad()
    def load_original_state(self, entries: Mapping[str, Tensor]) -> set[str]:
        """Copy this layer's tensors from an original-toolkit state_dict; returns the keys used.

        ``entries`` are the original's ``layers.<i>.*`` entries of this layer with the
        ``layers.<i>.`` prefix removed. Per-node parameters come from ``<name>`` or, for
        log-stored ones, ``log_<name>`` (exponentiated). The ``_dt`` buffer and the RateArray
        table copies are consumed without being placed (dt is a model setting; a table must
        equal the packaged one). Layer types with more tensors extend
        ``_load_original_tensors``. Raises OriginalStateError naming every key that cannot be
        placed and every parameter without a value; the layer is unchanged on error.
        """
        remaining = dict(entries)
        consumed: set[str] = set()
        updates: list[tuple[Tensor, Tensor]] = []
        if "_dt" in remaining:
            remaining.pop("_dt")
            consumed.add("_dt")
        for key in [k for k in remaining if _RATE_TABLE_KEY.match(k)]:
            self._check_rate_table(key, remaining.pop(key))
            consumed.add(key)
        for target, value, key in self._load_original_tensors(remaining):
            if target is not None:
                updates.append((target, self._checked(key, value, target.shape)))
            consumed.add(key)
        missing: list[str] = []
        for name in self.param_names():
            target = getattr(self, name)
            if name in remaining:
                value = remaining.pop(name)
                consumed.add(name)
            elif f"log_{name}" in remaining:
                value = torch.exp(remaining.pop(f"log_{name}").double())
                consumed.add(f"log_{name}")
            else:
                missing.append(name)
                continue
            updates.append((target, self._checked(name, value, target.shape)))
        if remaining:
            raise OriginalStateError(
                f"layer {self.layer_id} ({self.layer_type}): cannot place original tensor(s) "
                f"{sorted(remaining)}; this layer takes {self.original_state_keys()}"
            )
        if missing:
            raise OriginalStateError(
                f"layer {self.layer_id} ({self.layer_type}): the original file has no value for "
                f"parameter(s) {missing} (looked for <name> and log_<name>); it has {sorted(entries)}"
            )
        for target, value in updates:
            target.copy_(value.to(device=target.device, dtype=target.dtype))
        return consumed & set(entries)  # a duplicate put back under a parameter name is not a key

    def original_state_keys(self) -> list[str]:
        """State-dict names (without ``layers.<i>.``) this layer reads from an original file."""
        return self.param_names()

    def _load_original_tensors(self, remaining: dict[str, Tensor]
                               ) -> list[tuple[Tensor | None, Tensor, str]]:
        """Layer-specific original tensors, read before the per-node parameters.

        Pops the keys it uses from ``remaining`` and returns (target, value, original key)
        triples; target None marks a checked duplicate that is consumed without being placed.
        A duplicate of a per-node parameter may instead be put back under the parameter's name.
        """
        return []

    def _checked(self, key: str, value: Tensor, shape: torch.Size) -> Tensor:
        """``value`` reshaped to ``shape`` when the sizes agree; error naming ``key`` otherwise."""
        value = torch.as_tensor(value)
        if tuple(value.shape) != tuple(shape):
            if value.numel() != torch.Size(shape).numel() or len(shape) > 1:
                raise OriginalStateError(
                    f"layer {self.layer_id} ({self.layer_type}): original tensor '{key}' has shape "
                    f"{tuple(value.shape)}, expected {tuple(shape)}"
                )
            value = value.reshape(shape)
        return value

    def _check_rate_table(self, key: str, table: Tensor) -> None:
        """An original RateArray table copy must equal the packaged table (float32 rounding)."""
        source = getattr(self, "source", None)
        if not isinstance(source, RateArray):
            raise OriginalStateError(
                f"layer {self.layer_id} ({self.layer_type}): original tensor '{key}' is a RateArray "
                f"table, but this layer's source function is {self.options.get('source_func')}"
            )
        reference = torch.as_tensor(source.table.g, dtype=torch.float64)
        values = torch.as_tensor(table).double()
        if values.numel() != reference.numel() or not torch.allclose(
                values.reshape(reference.shape), reference, rtol=0.0, atol=1e-5):
            raise OriginalStateError(
                f"layer {self.layer_id} ({self.layer_type}): original tensor '{key}' (shape "
                f"{tuple(values.shape)}) differs from soen_train's packaged RateArray table "
                f"{tuple(reference.shape)}; a custom table cannot be imported"
            )

    # -- state ------------------------------------------------------------------------
    def initial_state(self, s0: Tensor, aux: dict[str, Tensor]) -> dict[str, Tensor]:
        """State dict at step 0 from the main state and any auxiliary ones."""
        state = {"s": s0}
        for key in self.AUX_STATES:
            state[key] = aux.get(key, torch.zeros_like(s0))
        return state

    # -- dynamics ---------------------------------------------------------------------
    def flux(self, phi_ext_t: Tensor, s: Tensor, weight_t: Tensor | EdgeStep | None,
             values: dict[str, Tensor], ctx: LayerRunContext) -> Tensor:
        """Total flux of one step: external + internal + offset (if any) + phi noise.

        ``weight_t`` is the internal matrix J (flux ``s @ J^T``) or, for a dynamic internal
        connection, an ``EdgeStep`` that advances the edges with ``s`` and returns their flux.
        """
        phi = phi_ext_t
        if weight_t is not None:
            phi = phi + internal_flux(s, weight_t)
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
        static_weight = internal.base if (internal is not None and internal.is_static) else None
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
            raise ArchitectureError(
                f"layer {self.layer_id} ({self.layer_type}): the PS solver cannot apply relative noise on s "
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
