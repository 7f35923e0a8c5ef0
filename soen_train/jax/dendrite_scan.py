"""Forward-Euler scan of a SingleDendrite layer whose flux is known up front, with its own VJP.

Without an internal connection the flux of every step, phi_t [B, D], is known before the
time loop, and the recurrence is

    g_t     = G(phi_t, bias - s_t)             (G = the source function)
    s_{t+1} = a s_t + c g_t                     (a = 1 - dt gamma_minus, c = dt gamma_plus)

Letting JAX differentiate the ``lax.scan`` would store and replay every step. Here the
backward pass is the adjoint recursion, as in the torch ``DendriteScan``: with
lambda_t = dL/ds_t, G_i = dG/di and u_t = c lambda_{t+1} + dL/dg_t,

    lambda_t = dL/dh_t + (a - c G_i(t)) lambda_{t+1} - G_i(t) dL/dg_t

an element-wise linear recursion (one cheap reverse scan); every other gradient is one
vectorised expression over all steps: dL/dphi_t = u_t dG/dphi_t, dL/dbias = sum u G_i,
dL/da = sum lambda_{t+1} s_t, dL/dc = sum lambda_{t+1} g_t, dL/ds_0 = lambda_0. The
forward pass of a differentiated call keeps dG/dphi and dG/di of every step (computed in
the loop next to g, where the table lookup is already at hand), so the backward pass
never evaluates the source function again.
"""

from __future__ import annotations

from functools import partial
from typing import Tuple

import jax
import jax.numpy as jnp

from .source_functions import JaxSourceFunction

Array = jax.Array


def _forward(
    source: JaxSourceFunction, phi: Array, s0: Array, a: Array, c: Array, bias: Array
) -> Tuple[Array, Array]:
    part = source.flux_part(phi)
    uses_current = source.uses_current

    def body(s: Array, part_t):
        g = source.combine(part_t, bias - s if uses_current else None)
        s_new = s * a + c * g
        return s_new, (s_new, g)

    _, (states, rates) = jax.lax.scan(body, s0, part)
    return jnp.concatenate([s0[None], states], axis=0), rates


@partial(jax.custom_vjp, nondiff_argnums=(0,))
def dendrite_scan(
    source: JaxSourceFunction, phi: Array, s0: Array, a: Array, c: Array, bias: Array
) -> Tuple[Array, Array]:
    """(history [T+1, B, D], rates g [T, B, D]) of the FE recurrence for a known flux [T, B, D].

    ``a``, ``c`` and ``bias`` are per node [D]; ``bias`` is ignored by phi-only sources.
    """
    return _forward(source, phi, s0, a, c, bias)


def _value_and_partials(
    source: JaxSourceFunction, phi: Array, current
) -> Tuple[Array, Array, Array]:
    """(g, dg/dphi, dg/di) element-wise (dg/di = 0 for phi-only sources); one fused evaluation."""
    ones = jnp.ones_like(phi)
    if source.uses_current:
        g, g_phi = jax.jvp(lambda p: source(p, current), (phi,), (ones,))
        _, g_i = jax.jvp(lambda i: source(phi, i), (current,), (ones,))
        return g, g_phi, g_i
    g, g_phi = jax.jvp(lambda p: source(p, None), (phi,), (ones,))
    return g, g_phi, jnp.zeros_like(g)


def _scan_fwd(source: JaxSourceFunction, phi: Array, s0: Array, a: Array, c: Array, bias: Array):
    """Forward pass for differentiation: also keeps dg/dphi and dg/di of every step."""

    def body(s: Array, phi_t: Array):
        g, g_phi, g_i = _value_and_partials(source, phi_t, bias - s)
        s_new = s * a + c * g
        return s_new, (s_new, g, g_phi, g_i)

    _, (states, rates, g_phi, g_i) = jax.lax.scan(body, s0, phi)
    hist = jnp.concatenate([s0[None], states], axis=0)
    return (hist, rates), (hist, rates, g_phi, g_i, a, c, bias)


def _scan_bwd(source: JaxSourceFunction, residuals, cotangents):
    hist, rates, g_phi, g_i, a, c, bias = residuals
    h_bar, g_bar = cotangents
    prev = hist[:-1]  # s_t for t = 0..T-1
    alpha = a - c * g_i  # dependence of lambda_t on lambda_{t+1}
    beta = h_bar[:-1] - g_bar * g_i  # direct terms of lambda_t

    def back(lam_next: Array, step):
        alpha_t, beta_t = step
        lam = beta_t + alpha_t * lam_next
        return lam, lam_next

    lam_0, lam_next = jax.lax.scan(back, h_bar[-1], (alpha, beta), reverse=True)
    # lam_next[t] = lambda_{t+1} for t = 0..T-1
    u = c * lam_next + g_bar
    phi_bar = u * g_phi
    bias_bar = jnp.sum(u * g_i, axis=(0, 1)) if source.uses_current else jnp.zeros_like(bias)
    a_bar = jnp.sum(lam_next * prev, axis=(0, 1))
    c_bar = jnp.sum(lam_next * rates, axis=(0, 1))
    return phi_bar, lam_0, a_bar, c_bar, bias_bar


dendrite_scan.defvjp(_scan_fwd, _scan_bwd)
