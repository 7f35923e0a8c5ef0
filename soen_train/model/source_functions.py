"""Source functions g(phi, i): the rate at which a dendrite's integration loop fills.

Every source function maps a flux ``phi`` (units of Phi0) and, when it is state dependent,
the SQUID current ``i`` (units of Ic; ``i = bias_current - s`` in a SingleDendrite) to a
dimensionless rate ``g``. Each one offers:

- ``value(phi, i)``: differentiable torch expression (used by autograd paths);
- ``derivatives(phi, i)``: closed-form (dg/dphi, dg/di) used by the hand-written
  backward pass of the fused time scan;
- ``plan(phi_chunk, want_slopes)`` + ``step_planned(plan, k, i, g_out, ...)``: the fused
  time scan first precomputes, for a chunk of steps with known flux, everything that does
  not depend on the state, then evaluates each step without autograd straight into
  preallocated buffers; ``step_into`` does the same for one step whose flux was just
  computed (layers with an internal connection). Functions whose derivatives come almost
  for free with the value (``forward_slopes``) write them too.

Look one up by name with ``SOURCE_FUNCTIONS.get(name)()``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import ClassVar, Dict, Optional, Tuple

import torch
from torch import Tensor

from soen_train.registry import Registry

from .rate_table import RateTable, default_rate_table

#: Catalog of source functions (classes), keyed by the names used in architecture YAMLs.
SOURCE_FUNCTIONS: Registry[type] = Registry("source function")


class SourceFunction(ABC):
    """Base class: a rate function g(phi, i) with closed-form derivatives."""

    #: True when g depends on the SQUID current i (so on the state s), not only on phi.
    uses_current: ClassVar[bool] = False
    #: True when step_into/step_planned can also write dg/dphi and dg/di cheaply.
    forward_slopes: ClassVar[bool] = False

    @abstractmethod
    def value(self, phi: Tensor, current: Optional[Tensor]) -> Tensor:
        """Rate g (dimensionless) for flux ``phi`` [Phi0] and SQUID current ``current`` [Ic]."""

    @abstractmethod
    def derivatives(self, phi: Tensor, current: Optional[Tensor]) -> Tuple[Tensor, Optional[Tensor]]:
        """(dg/dphi, dg/di) at the given points; dg/di is None for phi-only functions."""

    def step_into(self, phi: Tensor, current: Optional[Tensor], g_out: Tensor,
                  dphi_out: Optional[Tensor] = None, di_out: Optional[Tensor] = None) -> bool:
        """Write g for one step into ``g_out`` (no autograd); True if slopes were written too.

        Slopes go to ``dphi_out``/``di_out`` only for functions that get them cheaply from
        the value computation; otherwise the caller evaluates ``derivatives`` later.
        """
        g_out.copy_(self.value(phi, current))
        return False

    def plan(self, phi: Tensor, want_slopes: bool) -> object:
        """Precompute the state-independent part of a chunk of steps (phi [K, B, D])."""
        return phi

    def step_planned(self, plan: object, k: int, current: Optional[Tensor], g_out: Tensor,
                     dphi_out: Optional[Tensor] = None, di_out: Optional[Tensor] = None) -> bool:
        """``step_into`` for step ``k`` of a planned chunk."""
        return self.step_into(plan[k], current, g_out, dphi_out, di_out)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class PhiOnlySource(SourceFunction):
    """A source function of phi alone (no dependence on the state)."""

    uses_current: ClassVar[bool] = False
    forward_slopes: ClassVar[bool] = True

    def plan(self, phi: Tensor, want_slopes: bool) -> object:
        """A phi-only rate is fully known: evaluate the chunk (and its slope) at once."""
        slope = self.derivatives(phi, None)[0] if want_slopes else None
        return self.value(phi, None), slope

    def step_planned(self, plan: object, k: int, current: Optional[Tensor], g_out: Tensor,
                     dphi_out: Optional[Tensor] = None, di_out: Optional[Tensor] = None) -> bool:
        """Copy the precomputed rate (and slope) of step ``k``."""
        values, slopes = plan
        g_out.copy_(values[k])
        if dphi_out is not None and slopes is not None:
            dphi_out.copy_(slopes[k])
            return True
        return False

    def step_into(self, phi: Tensor, current: Optional[Tensor], g_out: Tensor,
                  dphi_out: Optional[Tensor] = None, di_out: Optional[Tensor] = None) -> bool:
        """Value (and slope, when a buffer is given) of one step."""
        g_out.copy_(self.value(phi, None))
        if dphi_out is not None:
            dphi_out.copy_(self.derivatives(phi, None)[0])
            return True
        return False


# ----------------------------------------------------------------------------------------
# RateArray: bilinear lookup in the measured SQUID table
# ----------------------------------------------------------------------------------------


def _gather_cells(cells: Tensor, index: Tensor) -> Tensor:
    """Rows of ``cells`` [N, 4] at ``index`` (any shape) -> [..., 4]; one gather per point."""
    if cells.dtype == torch.float32:
        # Four float32 coefficients are exactly one complex128: one 16-byte gather per point.
        packed = cells.view(torch.complex128).view(-1)
        picked = torch.view_as_real(packed.index_select(0, index.reshape(-1))).view(torch.float32)
        return picked.view(*index.shape, 4)
    return cells.index_select(0, index.reshape(-1)).view(*index.shape, 4)


@SOURCE_FUNCTIONS.register("RateArray", "rate_array")
class RateArray(SourceFunction):
    """Bilinear lookup in the measured SQUID rate table g[ib, phi] (the physical default).

    phi is folded into [0, 0.5] by periodicity and mirror symmetry
    (phi_eff = min(phi mod 1, 1 - phi mod 1)); the current enters as |i| and is clamped to
    the tabulated range [0.95, 2.5] (the lookup holds the border value outside it).
    """

    uses_current: ClassVar[bool] = True
    forward_slopes: ClassVar[bool] = True

    def __init__(self, table: Optional[RateTable] = None) -> None:
        self.table = table if table is not None else default_rate_table()
        h, w = self.table.shape
        self._h = h
        self._w = w
        self._inv_dphi = 1.0 / self.table.phi_step
        self._inv_dib = 1.0 / self.table.ib_step
        self._phi0 = self.table.phi_min
        self._ib0 = self.table.ib_min
        self._constants: Dict[Tuple[str, torch.dtype], Dict[str, Tensor]] = {}

    # -- geometry ---------------------------------------------------------------------
    def _phi_position(self, phi: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """(x0 cell column as float, fx fraction, fold sign d(phi_eff)/d(phi))."""
        wrapped = torch.remainder(phi, 1.0)
        mirrored = 1.0 - wrapped
        phi_eff = torch.minimum(wrapped, mirrored)
        x = ((phi_eff - self._phi0) * self._inv_dphi).clamp(0.0, self._w - 1)
        x0 = torch.floor(x.detach()).clamp_(max=self._w - 2)
        fx = x - x0
        sign = torch.sign(mirrored - wrapped)
        return x0, fx, sign

    def _current_position(self, current: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """(y0 cell row as float, fy fraction, d(y)/d(current) without the 1/dib factor)."""
        magnitude = current.abs()
        y_raw = (magnitude - self._ib0) * self._inv_dib
        y = y_raw.clamp(0.0, self._h - 1)
        y0 = torch.floor(y.detach()).clamp_(max=self._h - 2)
        fy = y - y0
        inside = (y_raw >= 0.0) & (y_raw <= self._h - 1)
        slope = torch.sign(current) * inside.to(current.dtype)
        return y0, fy, slope

    def _cells(self, ref: Tensor) -> Tensor:
        return self.table.cell_coefficients(ref.device, ref.dtype)

    def _lookup(self, x0: Tensor, y0: Tensor, ref: Tensor) -> Tensor:
        index = torch.addcmul(x0, y0, torch.full((), float(self._w - 1), dtype=y0.dtype)).long()
        return _gather_cells(self._cells(ref), index)

    @staticmethod
    def _require_current(current: Optional[Tensor]) -> Tensor:
        if current is None:
            raise ValueError(
                "RateArray needs the SQUID current i (it is state dependent); "
                "pass current=bias_current - s"
            )
        return current

    # -- public API -------------------------------------------------------------------
    def value(self, phi: Tensor, current: Optional[Tensor]) -> Tensor:
        """Differentiable bilinear rate lookup."""
        current = self._require_current(current)
        phi, current = torch.broadcast_tensors(phi, current)
        x0, fx, _ = self._phi_position(phi)
        y0, fy, _ = self._current_position(current)
        c0, cx, cy, cxy = self._lookup(x0, y0, phi).unbind(-1)
        return c0 + fx * cx + fy * (cy + fx * cxy)

    def derivatives(self, phi: Tensor, current: Optional[Tensor]) -> Tuple[Tensor, Optional[Tensor]]:
        """Exact derivatives of the bilinear interpolant inside each cell."""
        current = self._require_current(current)
        phi, current = torch.broadcast_tensors(phi, current)
        x0, fx, fold = self._phi_position(phi)
        y0, fy, slope = self._current_position(current)
        _, cx, cy, cxy = self._lookup(x0, y0, phi).unbind(-1)
        dg_dphi = (cx + fy * cxy) * (fold * self._inv_dphi)
        dg_di = (cy + fx * cxy) * (slope * self._inv_dib)
        return dg_dphi, dg_di

    def _step_constants(self, ref: Tensor) -> Dict[str, Tensor]:
        """0-dim tensors of the lookup constants (binary ops with tensors avoid scalar casts)."""
        key = (str(ref.device), ref.dtype)
        consts = self._constants.get(key)
        if consts is None:
            def scalar(value: float) -> Tensor:
                return torch.tensor(value, dtype=ref.dtype, device=ref.device)

            consts = {
                "half": scalar(0.5),
                "x_offset": scalar((0.5 - self._phi0) * self._inv_dphi),
                "inv_dphi": scalar(self._inv_dphi),
                "y_offset": scalar(-self._ib0 * self._inv_dib),
                "inv_dib": scalar(self._inv_dib),
            }
            self._constants[key] = consts
        return consts

    def _columns(self, phi: Tensor, want_slopes: bool) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
        """(x0 column as float, fx, d x/d phi or None) for fluxes ``phi``, in place."""
        k = self._step_constants(phi)
        # c = 0.5 - (phi mod 1); phi_eff = 0.5 - |c|; x = (phi_eff - phi0) / dphi.
        centred = torch.sub(torch.floor(phi).add_(k["half"]), phi)
        fold = torch.copysign(k["inv_dphi"], centred) if want_slopes else None
        x = torch.add(k["x_offset"], centred.abs_(), alpha=-self._inv_dphi).clamp_(0.0, self._w - 1)
        x0 = torch.floor(x).clamp_(max=self._w - 2)
        return x0, x.sub_(x0), fold

    def _finish(self, x0: Tensor, fx: Tensor, fold: Optional[Tensor], current: Tensor,
                g_out: Tensor, dphi_out: Optional[Tensor], di_out: Optional[Tensor]) -> bool:
        """Row lookup along |i|, gather the cell, write g (and the slopes when asked)."""
        k = self._step_constants(current)
        slopes = fold is not None and dphi_out is not None and di_out is not None
        y_raw = torch.add(k["y_offset"], current.abs(), alpha=self._inv_dib)
        y = y_raw.clamp(0.0, self._h - 1)
        inside = torch.eq(y, y_raw) if slopes else None
        y0 = torch.floor(y).clamp_(max=self._h - 2)
        fy = y.sub_(y0)
        index = torch.add(x0, y0, alpha=self._w - 1).long()
        c0, cx, cy, cxy = _gather_cells(self._cells(current), index).unbind(-1)
        upper = torch.addcmul(cy, fx, cxy)  # dg/dfy
        torch.addcmul(c0, fx, cx, out=g_out).addcmul_(fy, upper)
        if slopes:
            torch.addcmul(cx, fy, cxy, out=dphi_out).mul_(fold)
            torch.mul(upper, torch.copysign(k["inv_dib"], current), out=di_out).mul_(inside)
        return slopes

    def step_into(self, phi: Tensor, current: Optional[Tensor], g_out: Tensor,
                  dphi_out: Optional[Tensor] = None, di_out: Optional[Tensor] = None) -> bool:
        """One fused lookup: value and, when buffers are given, both slopes (in place)."""
        current = self._require_current(current)
        x0, fx, fold = self._columns(phi, dphi_out is not None)
        return self._finish(x0, fx, fold, current, g_out, dphi_out, di_out)

    def plan(self, phi: Tensor, want_slopes: bool) -> object:
        """Cell columns and fractions along phi for a chunk of steps."""
        return self._columns(phi, want_slopes)

    def step_planned(self, plan: object, k: int, current: Optional[Tensor], g_out: Tensor,
                     dphi_out: Optional[Tensor] = None, di_out: Optional[Tensor] = None) -> bool:
        """Row lookup for step ``k`` of a planned chunk."""
        x0, fx, fold = plan
        return self._finish(x0[k], fx[k], None if fold is None else fold[k],
                            self._require_current(current), g_out, dphi_out, di_out)


# ----------------------------------------------------------------------------------------
# Heaviside_fit_state_dep: smooth state-dependent fit of the table
# ----------------------------------------------------------------------------------------


@SOURCE_FUNCTIONS.register("Heaviside_fit_state_dep", "Heaviside_state_dep")
class HeavisideFitStateDep(SourceFunction):
    """Smooth fit of the SQUID response with a soft threshold in the current.

    d = A * max(i - C, eps)^K - B * (|cos(pi*phi)| + eps)^M,
    g = sigmoid(100*d) * max(d, eps)^(1/N).
    """

    uses_current: ClassVar[bool] = True
    A = 0.37091212
    B = 0.31903101
    C = 1.06435066
    K = 1.92138556
    M = 2.50322787
    N = 2.62706077
    EPS = 1e-6
    SHARPNESS = 100.0

    def __init__(self) -> None:
        self._constants: Dict[Tuple[str, torch.dtype], Dict[str, Tensor]] = {}

    def _flux_term(self, phi: Tensor) -> Tensor:
        return self.B * (torch.abs(torch.cos(math.pi * phi)) + self.EPS) ** self.M

    def _current_term(self, current: Tensor) -> Tensor:
        return self.A * torch.clamp(current - self.C, min=self.EPS) ** self.K

    def _shape(self, d: Tensor) -> Tensor:
        return torch.sigmoid(self.SHARPNESS * d) * torch.clamp(d, min=self.EPS) ** (1.0 / self.N)

    def value(self, phi: Tensor, current: Optional[Tensor]) -> Tensor:
        """Differentiable fit value."""
        if current is None:
            raise ValueError("Heaviside_fit_state_dep needs the SQUID current i = bias_current - s")
        return self._shape(self._current_term(current) - self._flux_term(phi))

    def derivatives(self, phi: Tensor, current: Optional[Tensor]) -> Tuple[Tensor, Optional[Tensor]]:
        """Closed-form dg/dphi and dg/di (clamps contribute zero slope where active)."""
        if current is None:
            raise ValueError("Heaviside_fit_state_dep needs the SQUID current i = bias_current - s")
        excess = current - self.C
        base_i = torch.clamp(excess, min=self.EPS)
        cos_v = torch.cos(math.pi * phi)
        base_phi = torch.abs(cos_v) + self.EPS
        d = self.A * base_i**self.K - self.B * base_phi**self.M
        sig = torch.sigmoid(self.SHARPNESS * d)
        d_clamped = torch.clamp(d, min=self.EPS)
        root = d_clamped ** (1.0 / self.N)
        dg_dd = self.SHARPNESS * sig * (1.0 - sig) * root + sig * (root / d_clamped) * (
            (d >= self.EPS).to(d.dtype) / self.N
        )
        dd_di = self.A * self.K * base_i ** (self.K - 1.0) * (excess >= self.EPS).to(d.dtype)
        dabs_dphi = -torch.sign(cos_v) * torch.sin(math.pi * phi) * math.pi
        dd_dphi = -self.B * self.M * base_phi ** (self.M - 1.0) * dabs_dphi
        return dg_dd * dd_dphi, dg_dd * dd_di

    def _step_constants(self, ref: Tensor) -> Dict[str, Tensor]:
        key = (str(ref.device), ref.dtype)
        consts = self._constants.get(key)
        if consts is None:
            consts = {name: torch.tensor(value, dtype=ref.dtype, device=ref.device) for name, value in
                      (("pi", math.pi), ("eps", self.EPS), ("c", self.C), ("a", self.A),
                       ("b", self.B), ("sharp", self.SHARPNESS))}
            self._constants[key] = consts
        return consts

    def step_into(self, phi: Tensor, current: Optional[Tensor], g_out: Tensor,
                  dphi_out: Optional[Tensor] = None, di_out: Optional[Tensor] = None) -> bool:
        """The fit value with in-place arithmetic (slopes are left to ``derivatives``)."""
        if current is None:
            raise ValueError("Heaviside_fit_state_dep needs the SQUID current i = bias_current - s")
        return self._finish(self.plan(phi, False), current, g_out)

    def plan(self, phi: Tensor, want_slopes: bool) -> object:
        """The flux term B*(|cos(pi phi)| + eps)^M of a chunk of steps."""
        k = self._step_constants(phi)
        return torch.mul(phi, k["pi"]).cos_().abs_().add_(k["eps"]).pow_(self.M).mul_(k["b"])

    def step_planned(self, plan: object, k: int, current: Optional[Tensor], g_out: Tensor,
                     dphi_out: Optional[Tensor] = None, di_out: Optional[Tensor] = None) -> bool:
        """The current term and the soft threshold for step ``k`` of a planned chunk."""
        if current is None:
            raise ValueError("Heaviside_fit_state_dep needs the SQUID current i = bias_current - s")
        return self._finish(plan[k], current, g_out)

    def _finish(self, flux_term: Tensor, current: Tensor, g_out: Tensor) -> bool:
        k = self._step_constants(current)
        d = torch.sub(current, k["c"]).clamp_(min=self.EPS).pow_(self.K).mul_(k["a"]).sub_(flux_term)
        gate = torch.sigmoid(torch.mul(d, k["sharp"]))
        torch.mul(d.clamp_(min=self.EPS).pow_(1.0 / self.N), gate, out=g_out)
        return False


# ----------------------------------------------------------------------------------------
# Analytic phi-only functions
# ----------------------------------------------------------------------------------------


@SOURCE_FUNCTIONS.register("Tanh", "tanh")
class TanhSource(PhiOnlySource):
    """g = tanh(phi)."""

    def value(self, phi: Tensor, current: Optional[Tensor]) -> Tensor:
        """tanh of the flux."""
        return torch.tanh(phi)

    def derivatives(self, phi: Tensor, current: Optional[Tensor]) -> Tuple[Tensor, Optional[Tensor]]:
        """dg/dphi = 1 - tanh(phi)^2."""
        t = torch.tanh(phi)
        return 1.0 - t * t, None


@SOURCE_FUNCTIONS.register("ReLU", "relu", "Relu")
class ReLUSource(PhiOnlySource):
    """g = max(phi, 0)."""

    def value(self, phi: Tensor, current: Optional[Tensor]) -> Tensor:
        """Rectified flux."""
        return torch.relu(phi)

    def derivatives(self, phi: Tensor, current: Optional[Tensor]) -> Tuple[Tensor, Optional[Tensor]]:
        """dg/dphi = 1 where phi > 0 else 0."""
        return (phi > 0).to(phi.dtype), None


@SOURCE_FUNCTIONS.register("SimpleGELU", "simple_gelu")
class SimpleGELUSource(PhiOnlySource):
    """g = 0.5*phi*tanh(0.8*phi) + 0.5*phi (a cheap GELU-like curve)."""

    def value(self, phi: Tensor, current: Optional[Tensor]) -> Tensor:
        """GELU-like curve of the flux."""
        return 0.5 * phi * torch.tanh(0.8 * phi) + 0.5 * phi

    def derivatives(self, phi: Tensor, current: Optional[Tensor]) -> Tuple[Tensor, Optional[Tensor]]:
        """dg/dphi = 0.5*tanh(0.8 phi) + 0.4*phi*(1 - tanh^2(0.8 phi)) + 0.5."""
        t = torch.tanh(0.8 * phi)
        return 0.5 * t + 0.4 * phi * (1.0 - t * t) + 0.5, None


@SOURCE_FUNCTIONS.register("Telu", "telu", "TeLU")
class TeluSource(PhiOnlySource):
    """g = phi * tanh(exp(phi))."""

    def value(self, phi: Tensor, current: Optional[Tensor]) -> Tensor:
        """TeLU of the flux."""
        return phi * torch.tanh(torch.exp(phi))

    def derivatives(self, phi: Tensor, current: Optional[Tensor]) -> Tuple[Tensor, Optional[Tensor]]:
        """dg/dphi = tanh(e^phi) + phi * e^phi * (1 - tanh^2(e^phi))."""
        e = torch.exp(phi)
        t = torch.tanh(e)
        return t + phi * e * (1.0 - t * t), None


# ----------------------------------------------------------------------------------------
# TanhGauss1p7IBFit: analytic fit with a current window
# ----------------------------------------------------------------------------------------


@SOURCE_FUNCTIONS.register("TanhGauss1p7IBFit", "tanh_gauss_1p7_ib_fit")
class TanhGauss1p7IBFit(SourceFunction):
    """g = amp * (1 - u)^p * tanh(exp(-((phi mod 1) - 0.5)^2 / (2 sigma^2))).

    u = clamp(1.7 - clamp(i, 0.7, 1.7), 0, 1): the rate vanishes for i <= 0.7 and saturates
    for i >= 1.7.
    """

    uses_current: ClassVar[bool] = True
    SIGMA = 0.126327336
    P = 2.548409700
    AMP = 0.784536839
    I_LOW = 0.7
    I_HIGH = 1.7

    def _flux_term(self, phi: Tensor) -> Tensor:
        offset = torch.remainder(phi, 1.0) - 0.5
        return self.AMP * torch.tanh(torch.exp(-(offset * offset) / (2.0 * self.SIGMA**2)))

    def _current_term(self, current: Tensor) -> Tensor:
        u = torch.clamp(self.I_HIGH - torch.clamp(current, self.I_LOW, self.I_HIGH), 0.0, 1.0)
        return (1.0 - u) ** self.P

    def value(self, phi: Tensor, current: Optional[Tensor]) -> Tensor:
        """Differentiable fit value."""
        if current is None:
            raise ValueError("TanhGauss1p7IBFit needs the SQUID current i = bias_current - s")
        return self._current_term(current) * self._flux_term(phi)

    def derivatives(self, phi: Tensor, current: Optional[Tensor]) -> Tuple[Tensor, Optional[Tensor]]:
        """Closed-form dg/dphi and dg/di."""
        if current is None:
            raise ValueError("TanhGauss1p7IBFit needs the SQUID current i = bias_current - s")
        offset = torch.remainder(phi, 1.0) - 0.5
        gauss = torch.exp(-(offset * offset) / (2.0 * self.SIGMA**2))
        t = torch.tanh(gauss)
        flux = self.AMP * t
        dflux = self.AMP * (1.0 - t * t) * gauss * (-offset / self.SIGMA**2)
        window = (current >= self.I_LOW) & (current <= self.I_HIGH)
        lifted = torch.clamp(current, self.I_LOW, self.I_HIGH) - self.I_LOW  # = 1 - u
        cur = lifted**self.P
        dcur = self.P * lifted ** (self.P - 1.0) * window.to(phi.dtype)
        return cur * dflux, dcur * flux


def build_source_function(name: str) -> SourceFunction:
    """Instantiate the source function registered as ``name`` (error lists valid names)."""
    return SOURCE_FUNCTIONS.get(name)()


def source_function_name(source: SourceFunction) -> str:
    """Canonical registry name of a source-function instance."""
    for key in SOURCE_FUNCTIONS.names():
        if type(source) is SOURCE_FUNCTIONS.get(key):
            return key
    raise ValueError(f"{source!r} is not a registered source function")
