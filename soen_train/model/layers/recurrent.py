"""Shared pieces of the discrete-time recurrent cells (RNN, GRU, LSTM, LeakyGRU, MinGRU).

Each step of these cells, as in the original toolkit:
1. internal connection, if any: phi_t += s_{t-1} J^T (s = the layer's output state);
2. ``phi`` noise on phi_t;
3. the cell update of its hidden state h (and c for the LSTM);
4. ``s`` noise on the output: s_t = h_t + noise.
The noisy s_t is what the history and the next internal term see; the hidden state h_t
continues from the noise-free value. h_0 is the layer's initial state. dt does not enter.
"""

from __future__ import annotations

from abc import abstractmethod
from contextlib import nullcontext

import torch
from torch import Tensor, nn

from .base import LayerRunContext, OriginalStateError, SOENLayer

#: Noise keys of the recurrent cells (plus ``j`` with an internal connection).
CELL_NOISE_KEYS: tuple[str, ...] = ("phi", "s")


def cell_init_scope(generator: torch.Generator | None, materialize: bool):
    """Context for building torch sub-modules: shields the global RNG when we redraw anyway.

    torch modules initialise themselves from the global RNG. With a model generator (or no
    values at all) their draws are replaced, so they must not advance the global RNG; without
    a generator the original toolkit's behaviour (global RNG, torch's own order) is kept.
    """
    if generator is None and materialize:
        return nullcontext()
    return torch.random.fork_rng(devices=[])


def noise_free(ctx: LayerRunContext, keys: tuple[str, ...] = CELL_NOISE_KEYS) -> bool:
    """True when none of ``keys`` has per-step noise or a perturbation in this forward."""
    return not ctx.noise.any_step_noise(keys) and all(ctx.noise.offset(k) is None for k in keys)


class RecurrentCellLayer(SOENLayer):
    """A cell whose hidden state h is kept apart from the (possibly noisy) output s."""

    #: Hidden states besides h that start at zero in every forward and are never exposed.
    ZERO_STATES: tuple[str, ...] = ()

    def noise_keys(self) -> list[str]:
        """phi (input flux) and s (output), plus j on an internal connection, plus parameters."""
        keys = list(CELL_NOISE_KEYS)
        if self.has_internal:
            keys.append("j")
        keys.extend(p for p in self.param_names() if p not in keys)
        return keys

    def parallel_scan_blocker(self) -> str | None:
        """The gates depend non-linearly on the hidden state."""
        return f"the {self.layer_type} cell is a non-linear recurrence in its hidden state"

    @abstractmethod
    def cell(self, phi: Tensor, hidden: dict[str, Tensor], values: dict[str, Tensor],
             ctx: LayerRunContext) -> dict[str, Tensor]:
        """New hidden states from the step's flux phi [B, D] and the old ones ('h', ...)."""

    def step(self, phi_ext_t: Tensor, state: dict[str, Tensor], weight_t: Tensor | None,
             values: dict[str, Tensor], ctx: LayerRunContext
             ) -> tuple[dict[str, Tensor], Tensor, Tensor]:
        """internal term, phi noise, cell, s noise (the recorded drive g is the new h)."""
        s = state["s"]
        hidden = {"h": state.get("h", s)}
        for key in self.ZERO_STATES:
            hidden[key] = state.get(key, torch.zeros_like(s))
        phi = self.flux(phi_ext_t, s, weight_t, values, ctx)
        hidden = self.cell(phi, hidden, values, ctx)
        new_state = {"s": ctx.noise.apply_step("s", hidden["h"]), **hidden}
        return new_state, phi, hidden["h"]

    def _take(self, remaining: dict[str, Tensor], names: list[str], targets: list[Tensor],
              duplicate_prefixes: tuple[str, ...]) -> list[tuple[Tensor | None, Tensor, str]]:
        """Pop ``<prefix><name>`` entries: the first present prefix is placed, the others must equal it."""
        out = []
        for name, target in zip(names, targets):
            keys = [p + name for p in duplicate_prefixes if p + name in remaining]
            if not keys:
                raise OriginalStateError(
                    f"layer {self.layer_id} ({self.layer_type}): the original file has no "
                    f"{' or '.join(p + name for p in duplicate_prefixes)}"
                )
            value = remaining.pop(keys[0])
            for other in keys[1:]:
                copy = remaining.pop(other)
                if copy.shape != value.shape or not torch.equal(copy, value):
                    raise OriginalStateError(
                        f"layer {self.layer_id} ({self.layer_type}): original tensors '{keys[0]}' and "
                        f"'{other}' should be the same tensor but differ"
                    )
                out.append((None, copy, other))
            out.append((target, value, keys[0]))
        return out


def uniform_(tensor: Tensor, bound: float, generator: torch.Generator | None) -> None:
    """In-place U(-bound, bound) draw from ``generator`` (no autograd)."""
    with torch.no_grad():
        tensor.uniform_(-bound, bound, generator=generator)


def zero_(module: nn.Module) -> None:
    """All parameters of ``module`` to zero (values will be loaded)."""
    with torch.no_grad():
        for param in module.parameters():
            param.zero_()
