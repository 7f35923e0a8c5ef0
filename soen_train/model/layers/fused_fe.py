"""The layerwise forward-Euler run of a dendrite-like layer through the fused time scan.

SingleDendrite and MultiplierWICC share the recurrence s <- (1 - dt*gamma_minus)*s +
dt*gamma_plus*g (``dendrite_scan``); they differ only in what they feed it (noise, the
multiplier's second flux phi_y). This turns their inputs into the scan's coefficients and the
scan's outputs into a ``LayerHistory``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor

from ..dendrite_scan import dendrite_scan
from ..source_functions import SourceFunction
from .base import InternalWeight, LayerHistory, LayerRunContext


def fused_fe_history(phi_ext: Tensor, s0: Tensor, internal: InternalWeight | None,
                     values: dict[str, Tensor], current: Tensor, source: SourceFunction,
                     ctx: LayerRunContext, phi_without_internal: Callable[[], Tensor],
                     **scan_inputs: Any) -> LayerHistory:
    """Run ``dendrite_scan`` over [T, B, D] flux and keep the histories ``ctx`` tracks.

    Args:
        phi_ext: the external flux (with any phi noise) [T, B, D].
        s0: the initial state [B, D].
        internal: the layer's static internal connection, or None.
        values: the layer's prepared parameters (``gamma_plus``, ``gamma_minus``: 1/dt units).
        current: the bias current fed to current-dependent sources ([D] or [T, B, D]).
        source: the layer's source function.
        ctx: the run context (dt, what to track).
        phi_without_internal: makes the flux history to report when there is no internal
            connection (the scan then returns none); called only when ``ctx`` tracks phi.
        scan_inputs: ``g_noise``, ``s_noise``, ``bias`` or ``phi_y`` of ``dendrite_scan``.
    """
    weight = internal.base if internal is not None else None
    history, phi_hist, g_hist = dendrite_scan(
        phi_ext, s0, weight, 1.0 - ctx.dt * values["gamma_minus"], ctx.dt * values["gamma_plus"],
        current if source.uses_current else None, source, record=ctx.track_phi or ctx.track_g,
        **scan_inputs)
    if weight is None and ctx.track_phi:
        phi_hist = phi_without_internal()
    return LayerHistory(states=history, phi=phi_hist if ctx.track_phi else None,
                        g=g_hist if ctx.track_g else None)
