"""Dynamic connections (WICC / NOCC edges) in JAX: the torch ``dynamic_edges`` equations.

A dynamic connection puts a multiplier circuit on every existing entry e = (dst, src) of
its mask (destination-major order); the programmed weight is the circuit's flux
phi_y_e = J[dst, src] (+0.5 Phi0 with half_flux_offset), read from the live weight so
gradients reach J. With x_e = j_in u_src (u = the source layer's state):

- WICC, one state s_e: ds = gamma_plus (g(x + phi_y, ib - s) - g(x - phi_y, ib + s))
  - gamma_minus s; destination i receives j_out_i sum_{e -> i} s_e.
- NOCC, states s1_e, s2_e and one output m_i per destination (N_i edges into i):
  dm = (sum_{e -> i} (g1 - g2) - alpha m) / (beta + 2 N beta_out),
  ds1 = (g1 - beta_out dm_dst - alpha s1) / beta (ds2 alike), with
  g1 = g(x + phi_y, soft_abs(ib - s1)), g2 = g(x - phi_y, soft_abs(s2 - ib));
  destination i receives j_out m_i.

Everything is dimensionless and advances by forward Euler at the model's dt; edge states
start at zero in every forward pass. ``advance`` returns the new states, ``output`` the
flux [B, D] the states deliver; the network decides when each is used (Jacobi delivers the
states before the update). The circuit parameters are constants of the spec.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Tuple, Union

import jax
import jax.numpy as jnp
import numpy as np

from .layers import soft_abs
from .source_functions import JaxSourceFunction, jax_source_function

Array = jax.Array
EdgeState = Dict[str, Array]


def _given_j_out(value: Union[float, Tuple[float, ...]]) -> Union[float, np.ndarray]:
    """A configured j_out: one number, or one per destination node ([D] float32)."""
    if isinstance(value, tuple):
        return np.asarray(value, dtype=np.float32)
    return float(value)


@dataclass(frozen=True, eq=False)
class JaxEdge:
    """Static structure and constants of one dynamic connection."""

    mode: str  # "WICC" | "NOCC"
    source: JaxSourceFunction
    dst: np.ndarray  # [E] int32
    src: np.ndarray  # [E] int32
    n_to: int
    j_in: float
    j_out: Union[float, np.ndarray]  # scalar, or [D] (WICC's fan-in rule)
    phi_y_offset: float
    bias_current: float
    gamma_plus: float = 0.0
    gamma_minus: float = 0.0
    alpha: float = 0.0
    beta: float = 1.0
    beta_out: float = 0.0
    beta_eff: Union[float, np.ndarray] = 1.0  # NOCC: beta + 2 N_i beta_out, [D]

    @classmethod
    def from_torch(cls, conn: Any) -> "JaxEdge":
        """The edges of a dynamic torch ``Connection`` (its settings and current mask)."""
        from soen_train.model.dynamic_edges import wicc_auto_j_out

        st = conn.edge_settings
        index = conn.edge_index()
        fan_in = index.fan_in.detach().cpu()
        if st.mode == "WICC":
            j_out = (
                wicc_auto_j_out(fan_in).numpy().astype(np.float32)
                if st.j_out is None
                else _given_j_out(st.j_out)
            )
            beta_eff: Union[float, np.ndarray] = 1.0
        else:
            j_out = _given_j_out(st.j_out)
            beta_eff = (st.beta + 2.0 * fan_in * st.beta_out).numpy().astype(np.float32)
        return cls(
            mode=st.mode,
            source=jax_source_function(st.source_func),
            dst=index.dst.cpu().numpy().astype(np.int32),
            src=index.src.cpu().numpy().astype(np.int32),
            n_to=int(index.n_to),
            j_in=float(st.j_in),
            j_out=j_out,
            phi_y_offset=float(st.phi_y_offset),
            bias_current=float(st.bias_current),
            gamma_plus=float(st.gamma_plus),
            gamma_minus=float(st.gamma_minus),
            alpha=float(st.alpha),
            beta=float(st.beta),
            beta_out=float(st.beta_out),
            beta_eff=beta_eff,
        )

    @property
    def edges(self) -> int:
        """Number of edges E."""
        return int(self.dst.size)

    def zeros(self, batch: int, dtype: Any) -> EdgeState:
        """Edge states at the start of a forward pass."""
        shape = (batch, self.edges)
        if self.mode == "WICC":
            return {"s": jnp.zeros(shape, dtype)}
        return {
            "s1": jnp.zeros(shape, dtype),
            "s2": jnp.zeros(shape, dtype),
            "m": jnp.zeros((batch, self.n_to), dtype),
        }

    def _collect(self, per_edge: Array) -> Array:
        """Sum per-edge values [B, E] into their destinations [B, D]."""
        out = jnp.zeros((per_edge.shape[0], self.n_to), per_edge.dtype)
        return out.at[:, self.dst].add(per_edge)

    def output(self, state: EdgeState) -> Array:
        """Flux [B, D] the edges deliver from ``state``."""
        if self.mode == "WICC":
            return jnp.asarray(self.j_out, state["s"].dtype) * self._collect(state["s"])
        return jnp.asarray(self.j_out, state["m"].dtype) * state["m"]

    def advance(self, state: EdgeState, u: Array, weight: Array, dt: Array) -> EdgeState:
        """One forward-Euler step with source states u [B, F] and the weight J [D, F]."""
        phi_y = weight[self.dst, self.src]
        if self.phi_y_offset:
            phi_y = phi_y + self.phi_y_offset
        x = self.j_in * u[:, self.src]
        phi_a, phi_b = x + phi_y, x - phi_y
        if self.mode == "WICC":
            s = state["s"]
            if self.source.uses_current:
                g_a = self.source(phi_a, self.bias_current - s)
                g_b = self.source(phi_b, self.bias_current + s)
            else:
                g_a, g_b = self.source(phi_a, None), self.source(phi_b, None)
            ds = self.gamma_plus * (g_a - g_b) - self.gamma_minus * s
            return {"s": s + dt * ds}
        s1, s2, m = state["s1"], state["s2"], state["m"]
        if self.source.uses_current:
            g1 = self.source(phi_a, soft_abs(self.bias_current - s1))
            g2 = self.source(phi_b, soft_abs(s2 - self.bias_current))
        else:
            g1, g2 = self.source(phi_a, None), self.source(phi_b, None)
        beta_eff = jnp.asarray(self.beta_eff, m.dtype)
        dm = (self._collect(g1 - g2) - self.alpha * m) / beta_eff
        coupling = self.beta_out * dm[:, self.dst]
        ds1 = (g1 - coupling - self.alpha * s1) / self.beta
        ds2 = (g2 - coupling - self.alpha * s2) / self.beta
        return {"s1": s1 + dt * ds1, "s2": s2 + dt * ds2, "m": m + dt * dm}


def edge_sequence(edge: JaxEdge, sources: Array, weight: Array, dt: Array) -> Array:
    """Flux [T, B, D] of a dynamic connection over a source history [T, B, F] (layerwise):
    at step t the edges advance with the source state of t+1 and deliver the updated flux."""

    def body(state: EdgeState, u: Array):
        new = edge.advance(state, u, weight, dt)
        return new, edge.output(new)

    _, flux = jax.lax.scan(body, edge.zeros(sources.shape[1], sources.dtype), sources)
    return flux
