"""Dynamic connections ("edges"): a multiplier circuit on every existing entry of J.

A connection's ``mode`` says how its weight acts:

- ``fixed``: the usual flux ``phi_i = sum_j J_ij u_j``.
- ``WICC`` (multiplier with collection coil): one state s_e per edge e = (dst, src),
      ds_e/dt = gamma_plus*[g(x_e + phi_y, ib - s_e) - g(x_e - phi_y, ib + s_e)] - gamma_minus*s_e,
      x_e = j_in * u_src,  phi_y = J[dst, src] (+0.5 with half_flux_offset),
  and destination i receives ``j_out_i * sum_{e -> i} s_e``.
- ``NOCC`` (no collection coil): two SQUID states s1_e, s2_e per edge and one output m_i
  per destination (N_i = number of edges into i):
      G_i   = sum_{e -> i} (g1_e - g2_e),
      dm_i  = (G_i - alpha*m_i) / (beta + 2*N_i*beta_out),
      ds1_e = (g1_e - beta_out*dm_dst - alpha*s1_e) / beta,   (ds2_e alike with g2_e)
      g1 = g(x + phi_y, soft_abs(ib - s1)), g2 = g(x - phi_y, soft_abs(s2 - ib)),
  and destination i receives ``j_out * m_i``.

All quantities are dimensionless (fluxes in Phi0, currents in Ic, time in 1/omega_c);
states advance with forward Euler at the model's ``dt``. Edge states start at zero in every
forward pass. The circuit parameters are plain numbers from the spec (``connection_params``),
not tensors: they are not learnable and not in the state dict.

This module holds the mode resolution of the original toolkit (``resolve_edge_mode``), the
parameter defaults (``EdgeSettings``) and the per-forward integrator (``EdgeRunner``). The
runner is vectorised over edges (gather + ``index_add``); the network loops over time.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from soen_train.registry import closest

from .source_functions import SOURCE_FUNCTIONS, SourceFunction, build_source_function
from .validation import (
    ArchitectureError,
    as_bool,
    as_float,
    as_str,
    check_keys_tolerant,
    note_ignored,
)

#: Canonical edge modes (case-sensitive, as in the original).
EDGE_MODES: tuple[str, ...] = ("fixed", "WICC", "NOCC")
#: Other spellings, matched after lower-casing. ``None`` = infer from the parameter block.
EDGE_MODE_ALIASES: dict[str, str | None] = {
    "programmable": "WICC", "dynamic_v1": "WICC", "v1": "WICC",
    "dynamic_v2": "NOCC", "multiplier_v2": "NOCC", "v2": "NOCC",
    "dynamic": None, "multiplier": None,
}
#: Keys of a parameter block that make inference choose NOCC / WICC.
_NOCC_MARKERS = ("alpha", "beta", "beta_out", "bias_current")
_WICC_MARKERS = ("gamma_plus",)

#: Defaults per mode (``j_out: None`` = WICC's fan-in rule, see ``wicc_auto_j_out``).
EDGE_DEFAULTS: dict[str, dict[str, Any]] = {
    "WICC": {"source_func": "RateArray", "gamma_plus": 0.001, "gamma_minus": 0.001,
             "bias_current": 2.0, "j_in": 0.38, "j_out": None, "half_flux_offset": False},
    "NOCC": {"source_func": "RateArray", "alpha": 1.64053, "beta": 303.85, "beta_out": 91.156,
             "bias_current": 2.1, "j_in": 0.38, "j_out": 0.38, "half_flux_offset": False},
}
_ALL_KEYS = sorted({k for d in EDGE_DEFAULTS.values() for k in d} | {"source_func_type"})
#: Smoothing of |i| in the NOCC branch currents: soft_abs(v) = sqrt(v^2 + eps).
SOFT_ABS_EPS = 0.01
#: Constants of the WICC output-coupling rule (from the circuit's inductances, in H).
_WICC_JOUT_NUM, _WICC_JOUT_PER_EDGE, _WICC_JOUT_BASE = 2.5e-10, 40e-12, 3.35e-10


def wicc_auto_j_out(fan_in: Tensor) -> Tensor:
    """WICC output coupling per destination from its number of edges N: 2.5e-10/(40e-12*N + 3.35e-10).

    N = 1 gives 0.666667, N = 3 gives 0.549451 (the collection coil shares its inductance).
    """
    return _WICC_JOUT_NUM / (_WICC_JOUT_PER_EDGE * fan_in + _WICC_JOUT_BASE)


# ----------------------------------------------------------------------------------------
# Mode resolution (YAML / config)
# ----------------------------------------------------------------------------------------


def _infer_mode(block: Mapping[str, Any]) -> str:
    """Mode from a non-empty parameter block (NOCC markers win, then WICC, else NOCC)."""
    if any(key in block for key in _NOCC_MARKERS):
        return "NOCC"
    if any(key in block for key in _WICC_MARKERS):
        return "WICC"
    return "NOCC"


def _legacy_block(params: Mapping[str, Any], where: str) -> tuple[dict[str, Any], str | None]:
    """(parameter block, the key it came from): ``connection_params``, else ``dynamic``/``multiplier``."""
    if "connection_params" in params:
        raw = params["connection_params"]
        return _as_block(raw, f"{where}.connection_params"), "connection_params"
    for key in ("dynamic", "multiplier"):
        raw = params.get(key)
        if raw:
            warnings.warn(
                f"{where}.{key}: the '{key}' block is a legacy spelling; write it as "
                "'connection_params'", DeprecationWarning, stacklevel=4)
            return _as_block(raw, f"{where}.{key}"), key
    return {}, None


def _as_block(raw: Any, where: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ArchitectureError(f"{where}: expected a mapping of edge parameters, got {raw!r}")
    return {str(k): v for k, v in raw.items()}


#: Keys of a connection's ``params`` that belong to the edge mode (not to pattern or init).
EDGE_PARAM_KEYS: tuple[str, ...] = ("mode", "connection_mode", "connection_params", "dynamic", "multiplier")


#: Values of block_structure's own ``connection_mode`` option.
PATTERN_CONNECTION_MODES: tuple[str, ...] = ("diagonal", "full")


def pattern_owns_connection_mode(params: Mapping[str, Any], pattern_has_modes: bool) -> bool:
    """True when ``connection_mode`` is the pattern's option, not the legacy edge-mode key.

    For a pattern with its own ``connection_mode`` (block_structure) that is so when ``mode``
    is also given or the value is one of the pattern's (diagonal / full). The original reads
    it as an edge mode there and fails; we keep it for the pattern.
    """
    if not pattern_has_modes or "connection_mode" not in params:
        return False
    return "mode" in params or params["connection_mode"] in PATTERN_CONNECTION_MODES


def resolve_edge_mode(params: Mapping[str, Any], where: str, *, pattern_has_modes: bool = False
                      ) -> tuple[str, dict[str, Any]]:
    """(mode, parameter block) of one connection's ``params``.

    Follows the original: ``mode``, else the legacy ``connection_mode``; canonical names are
    case-sensitive; aliases are matched lower-cased; without a mode key a non-empty block
    makes the connection dynamic (mode inferred from the block's keys); ``dynamic`` /
    ``multiplier`` infer from the block too and mean ``fixed`` when it is empty.
    ``pattern_has_modes``: the connection's pattern has its own ``connection_mode``
    (see ``pattern_owns_connection_mode``).
    """
    block, _ = _legacy_block(params, where)
    raw, key = None, None
    if "mode" in params:
        raw, key = params["mode"], "mode"
    elif "connection_mode" in params and not pattern_owns_connection_mode(params, pattern_has_modes):
        raw, key = params["connection_mode"], "connection_mode"
    if raw is None:
        return (_infer_mode(block) if block else "fixed"), block
    name = as_str(raw, f"{where}.{key}")
    if name in EDGE_MODES:
        return name, block
    lowered = name.lower()
    if lowered in EDGE_MODE_ALIASES:
        target = EDGE_MODE_ALIASES[lowered]
        if target is None:
            target = _infer_mode(block) if block else "fixed"
        return target, block
    valid = list(EDGE_MODES) + sorted(EDGE_MODE_ALIASES)
    hint = closest(name, valid)
    msg = f"{where}.{key}: invalid connection mode '{name}'"
    if hint:
        msg += f" (did you mean '{hint}'?)"
    raise ArchitectureError(msg + f"; valid modes: {', '.join(EDGE_MODES)} (case-sensitive) "
                            f"or the aliases {', '.join(sorted(EDGE_MODE_ALIASES))}")


# ----------------------------------------------------------------------------------------
# Parameters
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EdgeSettings:
    """Resolved circuit parameters of one dynamic connection (dimensionless)."""

    mode: str  # "WICC" | "NOCC"
    source_func: str
    bias_current: float  # SQUID bias [Ic]
    j_in: float  # input coupling: x_e = j_in * u_src
    j_out: float | tuple[float, ...] | None  # output coupling (scalar or per destination); None = WICC rule
    half_flux_offset: bool  # adds 0.5 Phi0 to every phi_y
    gamma_plus: float = 0.0  # WICC drive gain
    gamma_minus: float = 0.0  # WICC leak rate
    alpha: float = 0.0  # NOCC damping
    beta: float = 1.0  # NOCC branch inductance
    beta_out: float = 0.0  # NOCC output inductance

    @property
    def phi_y_offset(self) -> float:
        """Flux added to every programmed weight [Phi0]."""
        return 0.5 if self.half_flux_offset else 0.0


def edge_settings(mode: str, block: Mapping[str, Any], where: str, *, warn: bool = True) -> EdgeSettings:
    """Defaults of ``mode`` overridden by the block's keys.

    As in the original, keys the mode does not read have no effect: they are noted as
    ignored (one warning line per file), except a misspelt key close to a valid one, which
    is an error naming it. An unknown ``source_func`` falls back to RateArray, as in the
    original, and is noted too. ``warn=False`` when the block was already checked (the
    architecture reader notes once; building the model must not repeat it).

    Args:
        mode: the edge mode (``WICC`` or ``NOCC``).
        block: the connection's ``connection_params`` block.
        where: position in the architecture, for messages.
        warn: whether to note ignored keys (False when already checked).
    """
    if mode not in EDGE_DEFAULTS:
        raise ArchitectureError(f"{where}: mode '{mode}' has no edge parameters")
    defaults = EDGE_DEFAULTS[mode]
    given = dict(block)
    if "source_func_type" in given:
        alias = given.pop("source_func_type")
        given.setdefault("source_func", alias)
    if warn:
        check_keys_tolerant(given, defaults, _ALL_KEYS, where, f"not read by a {mode} edge")
    values: dict[str, Any] = {}
    for key, default in defaults.items():
        raw = given.get(key, default)
        if key == "source_func":
            name = as_str(raw, f"{where}.source_func")
            try:
                values[key] = SOURCE_FUNCTIONS.canonical(name)
            except KeyError:
                if warn:
                    note_ignored(where, [f"source_func={name!r}"],
                                 "not a source function; the edge uses RateArray")
                values[key] = "RateArray"
        elif key == "half_flux_offset":
            values[key] = as_bool(raw, f"{where}.half_flux_offset")
        elif key == "j_out" and raw is None:
            values[key] = None
        elif key == "j_out" and isinstance(raw, (list, tuple)):  # one value per destination
            values[key] = tuple(as_float(v, f"{where}.j_out[{i}]") for i, v in enumerate(raw))
        elif key == "beta":
            values[key] = as_float(raw, f"{where}.{key}", minimum=1e-12)
        else:
            values[key] = as_float(raw, f"{where}.{key}")
    return EdgeSettings(mode=mode, **values)


# ----------------------------------------------------------------------------------------
# Edge lists and the per-forward integrator
# ----------------------------------------------------------------------------------------


@dataclass
class EdgeIndex:
    """Edges of one connection: (dst, src) of every nonzero mask entry, destination-major."""

    dst: Tensor  # [E] long
    src: Tensor  # [E] long
    fan_in: Tensor  # [D] float: number of edges into each destination
    n_to: int

    @classmethod
    def from_mask(cls, mask: Tensor) -> EdgeIndex:
        """Row-major nonzero positions of ``mask`` [D, F] (dst 0..D-1, then src 0..F-1)."""
        nz = (mask > 0).nonzero(as_tuple=False)
        return cls(dst=nz[:, 0].contiguous(), src=nz[:, 1].contiguous(),
                   fan_in=(mask > 0).sum(dim=1).to(torch.float32), n_to=int(mask.shape[0]))


class _SourceWithSlopes(torch.autograd.Function):
    """g(phi, i) as one autograd node: closed-form slopes instead of a graph of table ops.

    The edge integrators call the source function twice per edge and step; recording each
    table lookup op by op dominates their cost. The slopes are the source function's own
    ``derivatives`` (the ones the fused dendrite scan uses).
    """

    @staticmethod
    def forward(ctx, phi: Tensor, current: Tensor | None, source: SourceFunction) -> Tensor:
        with torch.no_grad():
            g = source.value(phi, current)
            dphi, di = source.derivatives(phi, current)
        ctx.has_current = di is not None
        ctx.save_for_backward(dphi, di if di is not None else dphi)
        return g

    @staticmethod
    def backward(ctx, grad: Tensor):
        dphi, di = ctx.saved_tensors
        grad_phi = grad * dphi if ctx.needs_input_grad[0] else None
        grad_i = grad * di if (ctx.has_current and ctx.needs_input_grad[1]) else None
        return grad_phi, grad_i, None


def source_value(source: SourceFunction, phi: Tensor, current: Tensor | None) -> Tensor:
    """g(phi, i) of ``source`` (i None for phi-only functions), differentiable in phi and i."""
    needs_grad = torch.is_grad_enabled() and (
        phi.requires_grad or (current is not None and current.requires_grad))
    if not needs_grad:
        return source.value(phi, current)
    return _SourceWithSlopes.apply(phi, current, source)


def soft_abs(value: Tensor) -> Tensor:
    """Smooth |v| = sqrt(v^2 + 0.01) of the NOCC branch currents (never zero)."""
    return torch.sqrt(value * value + SOFT_ABS_EPS)


class EdgeRunner:
    """State and one-step update of a dynamic connection during one forward pass.

    ``advance(u, weight)`` moves every edge one step with the source states u [B, F] and the
    weight J [D, F] of this step and returns the updated flux [B, D] into the destination;
    ``output()`` is that flux from the current (not yet advanced) states, which is what
    Jacobi evaluation uses.
    """

    def __init__(self, settings: EdgeSettings, index: EdgeIndex, *, batch: int, dt: Tensor,
                 ref: Tensor) -> None:
        self.settings = settings
        self.dt = dt
        self.dst = index.dst.to(ref.device)
        self.src = index.src.to(ref.device)
        self.n_to = index.n_to
        self.source: SourceFunction = build_source_function(settings.source_func)
        self._weight_seen: Tensor | None = None
        self._phi_y_cache: Tensor | None = None
        edges = int(self.dst.numel())
        fan_in = index.fan_in.to(device=ref.device)
        if settings.j_out is None:  # WICC without j_out: the fan-in rule
            self.j_out: Tensor | float = wicc_auto_j_out(fan_in).to(ref.dtype)
        elif isinstance(settings.j_out, tuple):
            self.j_out = torch.tensor(settings.j_out, dtype=ref.dtype, device=ref.device)
        else:
            self.j_out = float(settings.j_out)
        if settings.mode == "WICC":
            self.s = ref.new_zeros(batch, edges)
        else:
            self.beta_eff = (settings.beta + 2.0 * fan_in * settings.beta_out).to(ref.dtype)
            self.s1 = ref.new_zeros(batch, edges)
            self.s2 = ref.new_zeros(batch, edges)
            self.m = ref.new_zeros(batch, index.n_to)

    def _collect(self, per_edge: Tensor) -> Tensor:
        """Sum per-edge values [B, E] into their destinations [B, D]."""
        out = per_edge.new_zeros(per_edge.shape[0], self.n_to)
        return out.index_add(1, self.dst, per_edge)

    def output(self) -> Tensor:
        """Flux [B, D] the edges deliver from their current states."""
        if self.settings.mode == "WICC":
            return self.j_out * self._collect(self.s)
        return self.j_out * self.m

    def _phi_y(self, weight: Tensor) -> Tensor:
        """Programmed flux of every edge [E]; gathered once while the same J is passed."""
        if weight is not self._weight_seen:
            phi_y = weight[self.dst, self.src]
            offset = self.settings.phi_y_offset
            self._phi_y_cache = phi_y + offset if offset else phi_y
            self._weight_seen = weight
        return self._phi_y_cache

    def _inputs(self, u: Tensor, weight: Tensor) -> tuple[Tensor, Tensor]:
        phi_y = self._phi_y(weight)
        x = self.settings.j_in * u.index_select(1, self.src)
        return x + phi_y, x - phi_y

    def advance(self, u: Tensor, weight: Tensor) -> Tensor:
        """One forward-Euler step with source states u [B, F]; returns the new flux [B, D]."""
        if self.settings.mode == "WICC":
            return self._advance_wicc(u, weight)
        return self._advance_nocc(u, weight)

    def _advance_wicc(self, u: Tensor, weight: Tensor) -> Tensor:
        st = self.settings
        phi_a, phi_b = self._inputs(u, weight)
        s = self.s
        if self.source.uses_current:
            g_a = source_value(self.source, phi_a, st.bias_current - s)
            g_b = source_value(self.source, phi_b, st.bias_current + s)
        else:
            g_a = source_value(self.source, phi_a, None)
            g_b = source_value(self.source, phi_b, None)
        ds = st.gamma_plus * (g_a - g_b) - st.gamma_minus * s
        self.s = s + self.dt * ds
        return self.output()

    def _advance_nocc(self, u: Tensor, weight: Tensor) -> Tensor:
        st = self.settings
        phi_a, phi_b = self._inputs(u, weight)
        s1, s2, m = self.s1, self.s2, self.m
        if self.source.uses_current:
            g1 = source_value(self.source, phi_a, soft_abs(st.bias_current - s1))
            g2 = source_value(self.source, phi_b, soft_abs(s2 - st.bias_current))
        else:
            g1 = source_value(self.source, phi_a, None)
            g2 = source_value(self.source, phi_b, None)
        dm = (self._collect(g1 - g2) - st.alpha * m) / self.beta_eff
        coupling = st.beta_out * dm.index_select(1, self.dst)
        ds1 = (g1 - coupling - st.alpha * s1) / st.beta
        ds2 = (g2 - coupling - st.alpha * s2) / st.beta
        self.s1 = s1 + self.dt * ds1
        self.s2 = s2 + self.dt * ds2
        self.m = m + self.dt * dm
        return self.output()


class EdgeStep:
    """A dynamic internal connection bound to this step's weight: ``flux(s)`` advances it.

    Layers receive it in place of the internal weight matrix; ``internal_flux`` dispatches.
    """

    def __init__(self, runner: EdgeRunner, weight: Tensor) -> None:
        self.runner = runner
        self.weight = weight

    def flux(self, s: Tensor) -> Tensor:
        """Advance the edges with the layer's current state s [B, D]; the updated flux [B, D]."""
        return self.runner.advance(s, self.weight)


def internal_flux(s: Tensor, coupling: Tensor | EdgeStep) -> Tensor:
    """Flux of a layer's internal connection: ``s @ J^T`` (fixed) or the edges' update (dynamic)."""
    if isinstance(coupling, EdgeStep):
        return coupling.flux(s)
    return s @ coupling.t()

