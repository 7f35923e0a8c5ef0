"""Virtual recurrent cells in JAX, as the original toolkit defines them (extras 2.2-2.6).

Every cell reads the summed flux phi_t [B, H] as its input (H = dim); with an internal
connection J the flux is phi_t + s_{t-1} J^T first. dt does not enter any update.
Weight matrices are torch's: rows of W_ih / W_hh stacked per gate, acting as ``x @ W^T``.

- RNN:      h = tanh(W_ih phi + b_ih + W_hh h + b_hh)
- GRU:      gates (r, z, n): n = tanh(W_in phi + b_in + r (W_hn h + b_hn)), h = (1-z) n + z h
- LSTM:     gates (i, f, g, o): c = f c + i g, h = o tanh(c); c starts at 0 every forward
- LeakyGRU: z = sigmoid(decay_bias), r = sigmoid(reset_bias) (constant),
            n = tanh(W_in phi + candidate_bias + r (W_hn h)), h = z h + (1 - z) n, with W_in,
            W_hn the candidate rows of W_ih, W_hh and W_hn's diagonal set by candidate_diag
- MinGRU:   z = sigmoid(W_g phi), s = (1 - z) s + z tanh(W_h phi)

The recorded drive g of every cell (``track_g``) is its new output h, as in the torch layers.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from .errors import JaxUnsupportedError
from .layer_base import Array, JaxLayer, Params, Role, State, register_layer


def _torch_rnn_roles() -> Tuple[Role, ...]:
    """W_ih, W_hh, b_ih, b_hh under torch.nn.RNN/GRU/LSTM names (module./core. copies too)."""
    out = []
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        aliases = tuple(f"{pre}{name}_l0" for pre in ("", "module.", "core.", "cell."))
        out.append(Role(name, aliases + (f"cell.{name}", f"core.{name}", f"module.{name}")))
    return tuple(out)


def _proj(x: Array, w: Array) -> Array:
    return x @ w.T


@register_layer("RNN")
class RNNLayer(JaxLayer):
    """Single-layer Elman tanh cell with its own input and recurrent matrices."""

    ROLES = _torch_rnn_roles()

    def update(self, p: Params, phi: Array, state: State, dt: Array) -> Tuple[State, Array]:
        h = state["s"]
        pre = _proj(phi, p["weight_ih"]) + p["bias_ih"] + _proj(h, p["weight_hh"]) + p["bias_hh"]
        h_new = jnp.tanh(pre)
        return {"s": h_new}, h_new


@register_layer("GRU")
class GRULayer(JaxLayer):
    """torch.nn.GRU cell, gate rows ordered (r, z, n)."""

    ROLES = _torch_rnn_roles()

    def update(self, p: Params, phi: Array, state: State, dt: Array) -> Tuple[State, Array]:
        h = state["s"]
        gi = _proj(phi, p["weight_ih"]) + p["bias_ih"]
        gh = _proj(h, p["weight_hh"]) + p["bias_hh"]
        i_r, i_z, i_n = jnp.split(gi, 3, axis=-1)
        h_r, h_z, h_n = jnp.split(gh, 3, axis=-1)
        r = jax.nn.sigmoid(i_r + h_r)
        z = jax.nn.sigmoid(i_z + h_z)
        n = jnp.tanh(i_n + r * h_n)
        h_new = (1.0 - z) * n + z * h
        return {"s": h_new}, h_new


@register_layer("LSTM")
class LSTMLayer(JaxLayer):
    """torch.nn.LSTM cell, gate rows ordered (i, f, g, o); the cell state c is internal."""

    ROLES = _torch_rnn_roles()
    hidden_states = ("c",)

    def update(self, p: Params, phi: Array, state: State, dt: Array) -> Tuple[State, Array]:
        h, c = state["s"], state["c"]
        gates = _proj(phi, p["weight_ih"]) + p["bias_ih"] + _proj(h, p["weight_hh"]) + p["bias_hh"]
        i, f, g, o = jnp.split(gates, 4, axis=-1)
        c_new = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h_new = jax.nn.sigmoid(o) * jnp.tanh(c_new)
        return {"s": h_new, "c": c_new}, h_new


#: How LeakyGRU's candidate recurrence treats its diagonal (the original's candidate_diag).
CANDIDATE_DIAG = ("zero", "one", "free")
DEFAULT_RESET_BIAS = 10.0


@register_layer("LeakyGRU")
class LeakyGRULayer(JaxLayer):
    """The original's masked GRU: a per-node leak z and a tanh candidate with recurrence."""

    ROLES = (
        Role("decay_bias", ("core.bias_z", "bias_z")),
        Role("candidate_bias", ("core.bias_n", "bias_n")),
        Role("weight_ih", ("core.weight_ih", "W_in", "weight_in")),
        Role("weight_hh", ("core.weight_hh", "W_hn", "weight_hn")),
    )

    @classmethod
    def constants_from(
        cls, options: Mapping[str, Any], buffers: Mapping[str, Any]
    ) -> Dict[str, Any]:
        """reset_bias (buffer ``core.bias_r_fixed`` or option, default 10) and candidate_diag."""
        diag = str(options.get("candidate_diag", "zero"))
        if diag not in CANDIDATE_DIAG:
            raise JaxUnsupportedError(
                f"LeakyGRU candidate_diag '{diag}' is not one of {', '.join(CANDIDATE_DIAG)}"
            )
        reset = next(
            (np.asarray(v, np.float32) for k, v in buffers.items() if k.endswith("bias_r_fixed")),
            None,
        )
        if reset is None:
            reset = np.asarray(float(options.get("reset_bias", DEFAULT_RESET_BIAS)), np.float32)
        return {"reset_bias": reset, "candidate_diag": diag}

    def _candidate_rows(self, w: Array) -> Array:
        """Rows [2H, 3H) of a full [3H, H] gate matrix, or the [H, H] matrix itself."""
        return w[2 * self.dim :] if w.shape[0] == 3 * self.dim else w

    def recurrent(self, p: Params) -> Array:
        """W_hn with its diagonal as candidate_diag says."""
        w = self._candidate_rows(p["weight_hh"])
        mode = self.constants.get("candidate_diag", "zero")
        if mode == "free":
            return w
        eye = jnp.eye(self.dim, dtype=w.dtype)
        return w * (1.0 - eye) + (eye if mode == "one" else 0.0)

    def update(self, p: Params, phi: Array, state: State, dt: Array) -> Tuple[State, Array]:
        h = state["s"]
        r = jax.nn.sigmoid(jnp.asarray(self.constants["reset_bias"], phi.dtype))
        z = jax.nn.sigmoid(p["decay_bias"])
        w_in = self._candidate_rows(p["weight_ih"])
        n = jnp.tanh(_proj(phi, w_in) + p["candidate_bias"] + r * _proj(h, self.recurrent(p)))
        h_new = z * h + (1.0 - z) * n
        return {"s": h_new}, h_new


@register_layer("MinGRU")
class MinGRULayer(JaxLayer):
    """Minimal GRU: gate and candidate are projections of the flux only (no biases)."""

    ROLES = (
        Role("hidden_weight", ("hidden_proj.weight", "weight_hidden", "W_h")),
        Role("gate_weight", ("gate_proj.weight", "weight_gate", "W_g")),
    )

    def _gate_candidate(self, p: Params, phi: Array) -> Tuple[Array, Array]:
        z = jax.nn.sigmoid(_proj(phi, p["gate_weight"]))
        return z, jnp.tanh(_proj(phi, p["hidden_weight"]))

    def update(self, p: Params, phi: Array, state: State, dt: Array) -> Tuple[State, Array]:
        z, cand = self._gate_candidate(p, phi)
        h_new = (1.0 - z) * state["s"] + z * cand
        return {"s": h_new}, h_new

    def linear(self, p: Params, phi: Array, dt: Array) -> Tuple[Array, Array, None]:
        """a = 1 - z, b = z h~; the drive is the state itself (None: the solver records it)."""
        z, cand = self._gate_candidate(p, phi)
        return 1.0 - z, z * cand, None
