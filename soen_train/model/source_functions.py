"""Source functions g(phi, i): the rate at which a dendrite's integration loop fills.

Every source function maps a flux ``phi`` (units of Phi0) and, when it is state dependent,
the SQUID current ``i`` (units of Ic; ``i = bias_current - s`` in a SingleDendrite) to a
dimensionless rate ``g``. Each one offers:

- ``value(phi, i)``: differentiable torch expression (used by autograd paths);
- ``derivatives(phi, i)``: closed-form (dg/dphi, dg/di) used by the hand-written
  backward pass of the fused time scan;
- ``stepper(shape, ref, want_slopes)``: a per-scan evaluator for the fused time scan. It
  precomputes (``plan``) everything that depends only on known fluxes for a chunk of
  steps, then evaluates each step (``step``; ``step_flux`` when the flux was just computed,
  for layers with an internal connection) without autograd into preallocated buffers.
  Functions whose derivatives come almost for free with the value (``forward_slopes``)
  write them too.

The interface (``SourceFunction``, ``ScanStepper``, ``PhiOnlySource``) is in
``source_function_base``; this module holds the implementations, each declared in
``soen_train.catalog.source_functions``. Look one up by name with ``SOURCE_FUNCTIONS.get(name)()``.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import Tensor

from soen_train.catalog.source_functions import SOURCE_CATALOG
from soen_train.registry import Registry

from .rate_table import RateTable, default_rate_table
from .source_function_base import PhiOnlySource, ScanStepper, SourceFunction

__all__ = [
    "SOURCE_FUNCTIONS", "HeavisideFitStateDep", "PhiOnlySource", "RateArray", "ReLUSource",
    "ScanStepper", "SimpleGELUSource", "SourceFunction", "TanhGauss1p7IBFit", "TanhSource",
    "TeluSource", "build_source_function", "source_function_name",
]

#: Source-function classes keyed by the names declared in ``soen_train.catalog.source_functions``.
SOURCE_FUNCTIONS: Registry[type] = SOURCE_CATALOG.registry("torch")


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


@SOURCE_CATALOG.torch("RateArray")
class RateArray(SourceFunction):
    """Bilinear lookup in the measured SQUID rate table g[ib, phi] (the physical default).

    phi is folded into [0, 0.5] by periodicity and mirror symmetry
    (phi_eff = min(phi mod 1, 1 - phi mod 1)); the current enters as |i| and is clamped to
    the tabulated range [0.95, 2.5] (the lookup holds the border value outside it).
    """

    uses_current: ClassVar[bool] = True
    forward_slopes: ClassVar[bool] = True

    def __init__(self, table: RateTable | None = None) -> None:
        self.table = table if table is not None else default_rate_table()
        h, w = self.table.shape
        self._h = h
        self._w = w
        self._inv_dphi = 1.0 / self.table.phi_step
        self._inv_dib = 1.0 / self.table.ib_step
        self._phi0 = self.table.phi_min
        self._ib0 = self.table.ib_min

    # -- geometry ---------------------------------------------------------------------
    def _phi_position(self, phi: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(x0 cell column as float, fx fraction, fold sign d(phi_eff)/d(phi))."""
        wrapped = torch.remainder(phi, 1.0)
        mirrored = 1.0 - wrapped
        phi_eff = torch.minimum(wrapped, mirrored)
        x = ((phi_eff - self._phi0) * self._inv_dphi).clamp(0.0, self._w - 1)
        x0 = torch.floor(x.detach()).clamp_(max=self._w - 2)
        fx = x - x0
        sign = torch.sign(mirrored - wrapped)
        return x0, fx, sign

    def _current_position(self, current: Tensor) -> tuple[Tensor, Tensor, Tensor]:
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
        index = torch.add(x0, y0, alpha=self._w - 1).long()
        return _gather_cells(self._cells(ref), index)

    @property
    def geometry(self) -> tuple[float, float, float, float, int, int]:
        """(1/dphi, 1/dib, phi_min, ib_min, ib points, phi points) of the table grid."""
        return self._inv_dphi, self._inv_dib, self._phi0, self._ib0, self._h, self._w

    @staticmethod
    def _require_current(current: Tensor | None) -> Tensor:
        if current is None:
            raise ValueError(
                "RateArray needs the SQUID current i (it is state dependent); "
                "pass current=bias_current - s"
            )
        return current

    # -- public API -------------------------------------------------------------------
    def value(self, phi: Tensor, current: Tensor | None) -> Tensor:
        """Differentiable bilinear rate lookup."""
        current = self._require_current(current)
        phi, current = torch.broadcast_tensors(phi, current)
        x0, fx, _ = self._phi_position(phi)
        y0, fy, _ = self._current_position(current)
        c0, cx, cy, cxy = self._lookup(x0, y0, phi).unbind(-1)
        return c0 + fx * cx + fy * (cy + fx * cxy)

    def derivatives(self, phi: Tensor, current: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """Exact derivatives of the bilinear interpolant inside each cell."""
        current = self._require_current(current)
        phi, current = torch.broadcast_tensors(phi, current)
        x0, fx, fold = self._phi_position(phi)
        y0, fy, slope = self._current_position(current)
        _, cx, cy, cxy = self._lookup(x0, y0, phi).unbind(-1)
        dg_dphi = (cx + fy * cxy) * (fold * self._inv_dphi)
        dg_di = (cy + fx * cxy) * (slope * self._inv_dib)
        return dg_dphi, dg_di

    def stepper(self, shape: tuple[int, ...], ref: Tensor, want_slopes: bool) -> ScanStepper:
        """Table lookups with preallocated buffers and one 16-byte gather per point."""
        return _RateArrayStepper(self, shape, ref, want_slopes)


class _RateArrayStepper(ScanStepper):
    """Per-scan state of RateArray lookups: constants as 0-dim tensors, work buffers."""

    def __init__(self, source: RateArray, shape: tuple[int, ...], ref: Tensor, want_slopes: bool) -> None:
        super().__init__(source, shape, ref, want_slopes)
        self.inv_dphi, self.inv_dib, phi0, ib0, self.h, self.w = source.geometry

        def scalar(value: float) -> Tensor:
            return torch.tensor(value, dtype=ref.dtype, device=ref.device)

        self.half = scalar(0.5)
        self.x_offset = scalar((0.5 - phi0) * self.inv_dphi)
        self.inv_dphi_t = scalar(self.inv_dphi)
        self.y_offset = scalar(-ib0 * self.inv_dib)
        self.inv_dib_t = scalar(self.inv_dib)

        def buffer(dtype: torch.dtype = ref.dtype) -> Tensor:
            return torch.empty(self.shape, dtype=dtype, device=ref.device)

        self.y, self.y_clamped, self.y0, self.index_f, self.upper = (buffer() for _ in range(5))
        self.inside = buffer(torch.bool)
        self.index = buffer(torch.long)
        self.index_flat = self.index.view(-1)
        cells = source.table.cell_coefficients(ref.device, ref.dtype)
        points = self.index_flat.numel()
        if ref.dtype == torch.float32:
            # Four float32 coefficients are exactly one complex128: one 16-byte gather per point.
            self.table = cells.view(torch.complex128).view(-1)
            self.gathered = torch.empty(points, dtype=torch.complex128, device=ref.device)
            coeffs = torch.view_as_real(self.gathered).view(torch.float32).view(*self.shape, 4)
        else:
            self.table = cells
            self.gathered = torch.empty(points, 4, dtype=ref.dtype, device=ref.device)
            coeffs = self.gathered.view(*self.shape, 4)
        self.c0, self.cx, self.cy, self.cxy = coeffs.unbind(-1)

    def plan(self, phi: Tensor) -> list[object]:
        """Cell columns x0, fractions fx (and dx/dphi) along phi for a chunk of steps."""
        # c = 0.5 - (phi mod 1); phi_eff = 0.5 - |c|; x = (phi_eff - phi0) / dphi.
        centred = torch.sub(torch.floor(phi).add_(self.half), phi)
        fold = torch.copysign(self.inv_dphi_t, centred) if self.writes_slopes else None
        x = torch.add(self.x_offset, centred.abs_(), alpha=-self.inv_dphi).clamp_(0.0, self.w - 1)
        x0 = torch.floor(x).clamp_(max=self.w - 2)
        fx = x.sub_(x0)
        folds = fold.unbind(0) if fold is not None else [None] * phi.shape[0]
        return list(zip(x0.unbind(0), fx.unbind(0), folds))

    def step(self, entry: object, current: Tensor | None, g_out: Tensor,
             dphi_out: Tensor | None, di_out: Tensor | None) -> None:
        """Row along |i| (clamped), one gather, bilinear value and slopes."""
        x0, fx, fold = entry
        current = RateArray._require_current(current)
        y = torch.abs(current, out=self.y)
        torch.add(self.y_offset, y, alpha=self.inv_dib, out=y)
        if self.writes_slopes:
            fy = torch.clamp(y, 0.0, self.h - 1, out=self.y_clamped)
            torch.eq(fy, y, out=self.inside)
        else:
            fy = y.clamp_(0.0, self.h - 1)
        torch.floor(fy, out=self.y0).clamp_(max=self.h - 2)
        fy.sub_(self.y0)
        torch.add(x0, self.y0, alpha=self.w - 1, out=self.index_f)
        self.index.copy_(self.index_f)
        torch.index_select(self.table, 0, self.index_flat, out=self.gathered)
        torch.addcmul(self.cy, fx, self.cxy, out=self.upper)  # dg/dfy
        torch.addcmul(self.c0, fx, self.cx, out=g_out).addcmul_(fy, self.upper)
        if self.writes_slopes:
            torch.addcmul(self.cx, fy, self.cxy, out=dphi_out).mul_(fold)
            torch.copysign(self.inv_dib_t, current, out=di_out).mul_(self.upper).mul_(self.inside)

    def step_flux(self, phi: Tensor, current: Tensor | None, g_out: Tensor,
                  dphi_out: Tensor | None, di_out: Tensor | None) -> None:
        self.step(self.plan(phi.unsqueeze(0))[0], current, g_out, dphi_out, di_out)


# ---- Heaviside_fit_state_dep: smooth state-dependent fit of the table ----


@SOURCE_CATALOG.torch("Heaviside_fit_state_dep")
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

    def _flux_term(self, phi: Tensor) -> Tensor:
        return self.B * (torch.abs(torch.cos(math.pi * phi)) + self.EPS) ** self.M

    def _current_term(self, current: Tensor) -> Tensor:
        return self.A * torch.clamp(current - self.C, min=self.EPS) ** self.K

    def _shape(self, d: Tensor) -> Tensor:
        return torch.sigmoid(self.SHARPNESS * d) * torch.clamp(d, min=self.EPS) ** (1.0 / self.N)

    def value(self, phi: Tensor, current: Tensor | None) -> Tensor:
        """Differentiable fit value."""
        if current is None:
            raise ValueError("Heaviside_fit_state_dep needs the SQUID current i = bias_current - s")
        return self._shape(self._current_term(current) - self._flux_term(phi))

    def derivatives(self, phi: Tensor, current: Tensor | None) -> tuple[Tensor, Tensor | None]:
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

    def stepper(self, shape: tuple[int, ...], ref: Tensor, want_slopes: bool) -> ScanStepper:
        """In-place evaluation with the flux term planned per chunk (slopes left to backward)."""
        return _HeavisideStepper(self, shape, ref, want_slopes)


class _HeavisideStepper(ScanStepper):
    """Per-scan buffers and 0-dim constants for the Heaviside fit."""

    def __init__(self, source: HeavisideFitStateDep, shape: tuple[int, ...], ref: Tensor,
                 want_slopes: bool) -> None:
        super().__init__(source, shape, ref, want_slopes)

        def scalar(value: float) -> Tensor:
            return torch.tensor(value, dtype=ref.dtype, device=ref.device)

        self.pi, self.eps, self.c, self.a, self.b, self.sharp = (
            scalar(v) for v in (math.pi, source.EPS, source.C, source.A, source.B, source.SHARPNESS))
        self.flux, self.d, self.gate = (torch.empty(self.shape, dtype=ref.dtype, device=ref.device)
                                        for _ in range(3))

    def _flux_term(self, phi: Tensor, out: Tensor | None = None) -> Tensor:
        source = self.source
        term = torch.mul(phi, self.pi, out=out) if out is not None else torch.mul(phi, self.pi)
        return term.cos_().abs_().add_(self.eps).pow_(source.M).mul_(self.b)

    def plan(self, phi: Tensor) -> list[object]:
        """The flux term B*(|cos(pi phi)| + eps)^M of each step."""
        return list(self._flux_term(phi).unbind(0))

    def step(self, entry: object, current: Tensor | None, g_out: Tensor,
             dphi_out: Tensor | None, di_out: Tensor | None) -> None:
        """d = A*max(i - C, eps)^K - flux term; g = sigmoid(100 d) * max(d, eps)^(1/N)."""
        source = self.source
        if current is None:
            raise ValueError("Heaviside_fit_state_dep needs the SQUID current i = bias_current - s")
        d = torch.sub(current, self.c, out=self.d).clamp_(min=source.EPS).pow_(source.K)
        d.mul_(self.a).sub_(entry)
        torch.mul(d, self.sharp, out=self.gate).sigmoid_()
        torch.mul(d.clamp_(min=source.EPS).pow_(1.0 / source.N), self.gate, out=g_out)

    def step_flux(self, phi: Tensor, current: Tensor | None, g_out: Tensor,
                  dphi_out: Tensor | None, di_out: Tensor | None) -> None:
        self.step(self._flux_term(phi, out=self.flux), current, g_out, dphi_out, di_out)


# ---- Analytic phi-only functions ----


@SOURCE_CATALOG.torch("Tanh")
class TanhSource(PhiOnlySource):
    """g = tanh(phi)."""

    def value(self, phi: Tensor, current: Tensor | None) -> Tensor:
        """tanh of the flux."""
        return torch.tanh(phi)

    def derivatives(self, phi: Tensor, current: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """dg/dphi = 1 - tanh(phi)^2."""
        t = torch.tanh(phi)
        return 1.0 - t * t, None


@SOURCE_CATALOG.torch("ReLU")
class ReLUSource(PhiOnlySource):
    """g = max(phi, 0)."""

    def value(self, phi: Tensor, current: Tensor | None) -> Tensor:
        """Rectified flux."""
        return torch.relu(phi)

    def derivatives(self, phi: Tensor, current: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """dg/dphi = 1 where phi > 0 else 0."""
        return (phi > 0).to(phi.dtype), None


@SOURCE_CATALOG.torch("SimpleGELU")
class SimpleGELUSource(PhiOnlySource):
    """g = 0.5*phi*tanh(0.8*phi) + 0.5*phi (a cheap GELU-like curve)."""

    def value(self, phi: Tensor, current: Tensor | None) -> Tensor:
        """GELU-like curve of the flux."""
        return 0.5 * phi * torch.tanh(0.8 * phi) + 0.5 * phi

    def derivatives(self, phi: Tensor, current: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """dg/dphi = 0.5*tanh(0.8 phi) + 0.4*phi*(1 - tanh^2(0.8 phi)) + 0.5."""
        t = torch.tanh(0.8 * phi)
        return 0.5 * t + 0.4 * phi * (1.0 - t * t) + 0.5, None


@SOURCE_CATALOG.torch("Telu")
class TeluSource(PhiOnlySource):
    """g = phi * tanh(exp(phi))."""

    def value(self, phi: Tensor, current: Tensor | None) -> Tensor:
        """TeLU of the flux."""
        return phi * torch.tanh(torch.exp(phi))

    def derivatives(self, phi: Tensor, current: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """dg/dphi = tanh(e^phi) + phi * e^phi * (1 - tanh^2(e^phi))."""
        e = torch.exp(phi)
        t = torch.tanh(e)
        return t + phi * e * (1.0 - t * t), None


# ---- TanhGauss1p7IBFit: analytic fit with a current window ----


@SOURCE_CATALOG.torch("TanhGauss1p7IBFit")
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

    def value(self, phi: Tensor, current: Tensor | None) -> Tensor:
        """Differentiable fit value."""
        if current is None:
            raise ValueError("TanhGauss1p7IBFit needs the SQUID current i = bias_current - s")
        return self._current_term(current) * self._flux_term(phi)

    def derivatives(self, phi: Tensor, current: Tensor | None) -> tuple[Tensor, Tensor | None]:
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


SOURCE_CATALOG.check_complete("torch")
