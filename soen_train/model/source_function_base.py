"""The interface every source function implements, and the generic scan steppers.

A source function maps a flux ``phi`` (units of Phi0) and, when it is state dependent, the
SQUID current ``i`` (units of Ic) to a dimensionless rate ``g``. ``SourceFunction`` declares
``value``/``derivatives`` and a ``stepper`` for the fused time scan; ``ScanStepper`` is the
generic per-step evaluator, ``PhiOnlySource`` the base of functions of phi alone, whose
stepper evaluates whole chunks at once. The catalog of concrete functions is
``source_functions.SOURCE_FUNCTIONS``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from torch import Tensor


class SourceFunction(ABC):
    """Base class: a rate function g(phi, i) with closed-form derivatives."""

    #: True when g depends on the SQUID current i (so on the state s), not only on phi.
    uses_current: ClassVar[bool] = False
    #: True when its scan stepper can also write dg/dphi and dg/di cheaply with the value.
    forward_slopes: ClassVar[bool] = False

    @abstractmethod
    def value(self, phi: Tensor, current: Tensor | None) -> Tensor:
        """Rate g (dimensionless) for flux ``phi`` [Phi0] and SQUID current ``current`` [Ic]."""

    @abstractmethod
    def derivatives(self, phi: Tensor, current: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """(dg/dphi, dg/di) at the given points; dg/di is None for phi-only functions."""

    def stepper(self, shape: tuple[int, ...], ref: Tensor, want_slopes: bool) -> ScanStepper:
        """A per-scan evaluator for steps of the given [B, D] ``shape`` (dtype/device of ``ref``).

        Args:
            shape: the [B, D] shape of one step.
            ref: a tensor whose dtype and device the buffers take.
            want_slopes: whether the caller wants dg/dphi and dg/di written with g (honoured
                only where ``forward_slopes``; see ``ScanStepper.writes_slopes``).
        """
        return ScanStepper(self, shape, ref, want_slopes)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ScanStepper:
    """Evaluates one source function step by step inside the fused scan (no autograd).

    ``plan(phi_chunk)`` returns one entry per step of a [K, B, D] chunk of known fluxes;
    ``step(entry, i, g_out, dphi_out, di_out)`` writes g (and, when ``writes_slopes``, the
    slopes) for one step; ``step_flux`` does the same from a flux computed just now.
    This generic version evaluates ``value`` (and ``derivatives`` when slopes are wanted).
    """

    def __init__(self, source: SourceFunction, shape: tuple[int, ...], ref: Tensor,
                 want_slopes: bool) -> None:
        self.source = source
        self.shape = tuple(shape)
        self.writes_slopes = bool(want_slopes and source.forward_slopes)

    def plan(self, phi: Tensor) -> list[object]:
        """Per-step entries for a chunk of fluxes [K, B, D]."""
        return list(phi.unbind(0))

    def step(self, entry: object, current: Tensor | None, g_out: Tensor,
             dphi_out: Tensor | None, di_out: Tensor | None) -> None:
        """Write one step from its plan entry.

        Args:
            entry: this step's entry of ``plan``.
            current: SQUID current i [B, D] (Ic), None for phi-only functions.
            g_out: buffer [B, D] for the rate g.
            dphi_out: buffer [B, D] for dg/dphi (written when ``writes_slopes``).
            di_out: buffer [B, D] for dg/di (written when ``writes_slopes``).
        """
        self.step_flux(entry, current, g_out, dphi_out, di_out)

    def step_flux(self, phi: Tensor, current: Tensor | None, g_out: Tensor,
                  dphi_out: Tensor | None, di_out: Tensor | None) -> None:
        """Write one step from its flux ``phi`` [B, D].

        Args:
            phi: this step's flux [B, D] (Phi0), computed just now.
            current: SQUID current i [B, D] (Ic), None for phi-only functions.
            g_out: buffer [B, D] for the rate g.
            dphi_out: buffer [B, D] for dg/dphi (written when ``writes_slopes``).
            di_out: buffer [B, D] for dg/di (written when ``writes_slopes``).
        """
        g_out.copy_(self.source.value(phi, current))
        if self.writes_slopes:
            dphi, di = self.source.derivatives(phi, current)
            dphi_out.copy_(dphi)
            if di is not None and di_out is not None:
                di_out.copy_(di)


class PhiOnlySource(SourceFunction):
    """A source function of phi alone (no dependence on the state)."""

    uses_current: ClassVar[bool] = False
    forward_slopes: ClassVar[bool] = True

    def stepper(self, shape: tuple[int, ...], ref: Tensor, want_slopes: bool) -> ScanStepper:
        """A phi-only rate is fully known from the flux: plan whole chunks at once."""
        return _PhiOnlyStepper(self, shape, ref, want_slopes)


class _PhiOnlyStepper(ScanStepper):
    """Rates (and slopes) of a whole chunk evaluated at once; steps copy them out."""

    def plan(self, phi: Tensor) -> list[object]:
        values = self.source.value(phi, None)
        slopes = self.source.derivatives(phi, None)[0] if self.writes_slopes else None
        return list(zip(values.unbind(0), slopes.unbind(0) if slopes is not None else [None] * len(phi)))

    def step(self, entry: object, current: Tensor | None, g_out: Tensor,
             dphi_out: Tensor | None, di_out: Tensor | None) -> None:
        value, slope = entry
        g_out.copy_(value)
        if slope is not None:
            dphi_out.copy_(slope)

    def step_flux(self, phi: Tensor, current: Tensor | None, g_out: Tensor,
                  dphi_out: Tensor | None, di_out: Tensor | None) -> None:
        self.step(self.plan(phi.unsqueeze(0))[0], current, g_out, dphi_out, di_out)
