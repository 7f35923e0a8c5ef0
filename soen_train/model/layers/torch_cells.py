"""RNN, GRU and LSTM layers: PyTorch's single-layer cells of size H = dim, input size H.

    RNN:  h' = tanh(W_ih phi + b_ih + W_hh h + b_hh)
    GRU:  r = sig(W_ir phi + b_ir + W_hr h + b_hr), z = sig(W_iz phi + b_iz + W_hz h + b_hz),
          n = tanh(W_in phi + b_in + r * (W_hn h + b_hn)), h' = (1 - z) * n + z * h
    LSTM: i, f, o = sig(...), g = tanh(...) (rows ordered i, f, g, o);
          c' = f * c + i * g, h' = o * tanh(c'); c_0 = 0 in every forward (never exposed)

The weights live in a torch module ``module`` (``module.weight_ih_l0`` [G*H, H],
``module.weight_hh_l0``, ``module.bias_ih_l0`` [G*H], ``module.bias_hh_l0``, G = 1, 3, 4),
the original toolkit's names, initialised U(-1/sqrt(H), 1/sqrt(H)) in that order. Without an
internal connection and without phi/s noise the whole sequence runs through torch's fused
module; otherwise the per-step equations above (the reference) run, see ``recurrent``.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import Tensor, nn

from .base import InternalWeight, LayerHistory, LayerRunContext
from .recurrent import RecurrentCellLayer, cell_init_scope, noise_free, uniform_, zero_

_TENSORS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")


class TorchCellLayer(RecurrentCellLayer):
    """Common construction, fused path and original-file import of the torch cells."""

    MODULE: ClassVar[type[nn.RNNBase]]

    def build_tensors(self, generator: torch.Generator | None, materialize: bool) -> None:
        """The torch module; with a model generator its four tensors are redrawn in torch's order."""
        with cell_init_scope(generator, materialize):
            self.module = self.MODULE(self.dim, self.dim)
        if not materialize:
            zero_(self.module)
        elif generator is not None:
            bound = 1.0 / math.sqrt(self.dim)
            for name in _TENSORS:
                uniform_(getattr(self.module, name), bound, generator)

    def _weights(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        return tuple(getattr(self.module, name) for name in _TENSORS)

    def _gates(self, phi: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        w_ih, w_hh, b_ih, b_hh = self._weights()
        return torch.addmm(b_ih, phi, w_ih.t()), torch.addmm(b_hh, h, w_hh.t())

    def _fused(self, phi: Tensor, h0: Tensor) -> Tensor:
        """Outputs [T, B, H] of torch's fused module from h0 [B, H]."""
        out, _ = self.module(phi, h0.unsqueeze(0).contiguous())
        return out

    def run_sequence(self, phi_ext: Tensor, state0: dict[str, Tensor],
                     internal: InternalWeight | None, ctx: LayerRunContext) -> LayerHistory:
        """Fused torch module when nothing acts between steps, else the step loop."""
        values = self.prepare(ctx)
        if internal is not None or not noise_free(ctx):
            return self.run_steps(phi_ext, state0, internal, values, ctx)
        out = self._fused(phi_ext.contiguous(), state0["s"])
        history = torch.cat([state0["s"].unsqueeze(0), out], dim=0)
        return LayerHistory(states=history, phi=phi_ext if ctx.track_phi else None,
                            g=out if ctx.track_g else None)

    def original_state_keys(self) -> list[str]:
        """``module.*`` tensors (the duplicate ``core.*`` copies are accepted too)."""
        return [f"module.{name}" for name in _TENSORS]

    def _load_original_tensors(self, remaining: dict[str, Tensor]
                               ) -> list[tuple[Tensor, Tensor, str]]:
        return self._take(remaining, list(_TENSORS), list(self._weights()), ("module.", "core."))


class RNNLayer(TorchCellLayer):
    """Elman cell with tanh (the original builds it without a nonlinearity choice)."""

    layer_type = "RNN"
    MODULE = nn.RNN

    def cell(self, phi: Tensor, hidden: dict[str, Tensor], values: dict[str, Tensor],
             ctx: LayerRunContext) -> dict[str, Tensor]:
        """h' = tanh(W_ih phi + b_ih + W_hh h + b_hh)."""
        gi, gh = self._gates(phi, hidden["h"])
        return {"h": torch.tanh(gi + gh)}


class GRULayer(TorchCellLayer):
    """PyTorch GRU cell (gate rows r, z, n)."""

    layer_type = "GRU"
    MODULE = nn.GRU

    def cell(self, phi: Tensor, hidden: dict[str, Tensor], values: dict[str, Tensor],
             ctx: LayerRunContext) -> dict[str, Tensor]:
        """r, z gates; candidate n with r on the hidden part; h' = (1 - z) n + z h."""
        h = hidden["h"]
        gi, gh = self._gates(phi, h)
        i_r, i_z, i_n = gi.chunk(3, dim=-1)
        h_r, h_z, h_n = gh.chunk(3, dim=-1)
        r = torch.sigmoid(i_r + h_r)
        z = torch.sigmoid(i_z + h_z)
        n = torch.tanh(i_n + r * h_n)
        return {"h": n + z * (h - n)}


class LSTMLayer(TorchCellLayer):
    """PyTorch LSTM cell (gate rows i, f, g, o); the cell state c restarts at 0 each forward."""

    layer_type = "LSTM"
    MODULE = nn.LSTM
    ZERO_STATES = ("c",)

    def cell(self, phi: Tensor, hidden: dict[str, Tensor], values: dict[str, Tensor],
             ctx: LayerRunContext) -> dict[str, Tensor]:
        """c' = f c + i g, h' = o tanh(c')."""
        gi, gh = self._gates(phi, hidden["h"])
        i, f, g, o = (gi + gh).chunk(4, dim=-1)
        c = torch.sigmoid(f) * hidden["c"] + torch.sigmoid(i) * torch.tanh(g)
        return {"h": torch.sigmoid(o) * torch.tanh(c), "c": c}

    def _fused(self, phi: Tensor, h0: Tensor) -> Tensor:
        h0 = h0.unsqueeze(0).contiguous()
        out, _ = self.module(phi, (h0, torch.zeros_like(h0)))
        return out
