"""LeakyGRU (alias leakyGRU): the original toolkit's masked GRU with a per-node leak.

    r = sigmoid(reset_bias)                                (a constant, default sigmoid(10))
    z = sigmoid(decay_bias)                                (per node, no input or hidden weights)
    n = tanh(W_in phi_t + candidate_bias + r * (W_hn h_{t-1}))
    h_t = z * h_{t-1} + (1 - z) * n

W_in = rows [2H, 3H) of ``core.weight_ih`` [3H, H]; W_hn = rows [2H, 3H) of ``core.weight_hh``
with its diagonal set by ``candidate_diag``: "zero" (default, forced to 0), "one" (forced
to 1) or "free" (learned). The full [3H, H] matrices are kept (the original's shapes and
names); the other rows are masked out in the forward, so they never act or train.

Initial values, in the original's order: weight_ih xavier-uniform and weight_hh orthogonal
over the full matrices, rows [0, 2H) of both zeroed; then, unless the architecture gives
``decay_bias``, decay_bias = logit(clamp(exp(-dt / tau), 1e-6, 1 - 1e-6)) with dt the model
step at build time and tau = ``tau_init`` (floored at ``tau_eps``), or for a [tau_min, tau_max]
pair taus spaced geometrically or linearly (``tau_spacing``) over the nodes. dt = 37, tau = 20
gives decay_bias = -1.678930 (z = 0.157237). ``train_alpha: false`` freezes decay_bias.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from ..validation import ArchitectureError, as_bool, as_float, as_str
from .base import LayerRunContext, OptionDef, OriginalStateError, ParamDef, SOENLayer
from .recurrent import RecurrentCellLayer, cell_init_scope, zero_

CANDIDATE_DIAG_MODES: tuple[str, ...] = ("zero", "one", "free")
TAU_SPACINGS: tuple[str, ...] = ("geometric", "linear")


def _parse_tau(value: Any, where: str) -> float | list[float]:
    """tau_init: a number, or a two-element list [tau_min, tau_max] (dimensionless time)."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ArchitectureError(f"{where}: expected a number or [tau_min, tau_max], got {list(value)}")
        return [as_float(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return as_float(value, where)


def _choice(valid: tuple[str, ...]):
    def parse(value: Any, where: str) -> str:
        text = as_str(value, where)
        if text not in valid:
            raise ArchitectureError(f"{where}: '{text}' is not valid; use one of {list(valid)}")
        return text
    return parse


def leak_taus(tau_init: float | list[float], tau_eps: float, tau_spacing: str, dim: int) -> Tensor:
    """Per-node time constants tau [dim] (float64) from the tau_* options."""
    if isinstance(tau_init, list):
        lo, hi = (max(float(v), tau_eps) for v in tau_init)
        if tau_spacing == "geometric":
            return torch.exp(torch.linspace(math.log(lo), math.log(hi), dim, dtype=torch.float64))
        return torch.linspace(lo, hi, dim, dtype=torch.float64)
    return torch.full((dim,), max(float(tau_init), tau_eps), dtype=torch.float64)


def decay_logits(taus: Tensor, dt: float) -> Tensor:
    """logit(clamp(exp(-dt/tau), 1e-6, 1 - 1e-6)): z = sigmoid(logit) keeps exp(-dt/tau) of h."""
    keep = torch.exp(-dt / taus).clamp(1e-6, 1.0 - 1e-6)
    return torch.log(keep) - torch.log1p(-keep)


class LeakyGRULayer(RecurrentCellLayer):
    """Masked GRU: fixed reset gate, per-node leak, candidate from phi and the hidden state."""

    layer_type = "LeakyGRU"
    PARAMS = (
        ParamDef("decay_bias", 4.0, learnable=True,
                 doc="leak logit, z = sigmoid(decay_bias); default derived from tau_init and dt"),
        ParamDef("candidate_bias", 0.0, learnable=True, doc="bias of the tanh candidate"),
    )
    OPTIONS = SOENLayer.OPTIONS + (
        OptionDef("reset_bias", 10.0, "float", doc="constant reset-gate logit, r = sigmoid(reset_bias)"),
        OptionDef("tau_init", 20.0, "custom", parse=_parse_tau,
                  doc="leak time constant (dimensionless time), or [tau_min, tau_max] spread over the nodes"),
        OptionDef("tau_spacing", "geometric", "custom", parse=_choice(TAU_SPACINGS),
                  doc="spacing of the taus for a [tau_min, tau_max] tau_init"),
        OptionDef("tau_eps", 1e-3, "float", doc="smallest tau"),
        OptionDef("candidate_diag", "zero", "custom", parse=_choice(CANDIDATE_DIAG_MODES),
                  doc="diagonal of W_hn: zero, one or free (learned)"),
        OptionDef("train_alpha", True, "custom", parse=as_bool, doc="false freezes decay_bias"),
    )

    def build_tensors(self, generator: torch.Generator | None, materialize: bool) -> None:
        """core.weight_ih (xavier-uniform) and core.weight_hh (orthogonal), rows [0, 2H) zeroed."""
        hidden = self.dim
        self.core = nn.Module()
        with cell_init_scope(generator, materialize):
            self.core.weight_ih = nn.Parameter(torch.empty(3 * hidden, hidden))
            self.core.weight_hh = nn.Parameter(torch.empty(3 * hidden, hidden))
        if not materialize:
            zero_(self.core)
        else:
            with torch.no_grad():
                nn.init.xavier_uniform_(self.core.weight_ih, generator=generator)
                nn.init.orthogonal_(self.core.weight_hh, generator=generator)
                self.core.weight_ih[: 2 * hidden].zero_()
                self.core.weight_hh[: 2 * hidden].zero_()
        if not self.options["train_alpha"]:
            self.decay_bias.requires_grad_(False)

    def derived_defaults(self) -> dict[str, Tensor]:
        """decay_bias from tau_init and the model dt (see the module docstring)."""
        if self.build_dt is None:
            raise ValueError(f"layer {self.layer_id} (LeakyGRU): the model dt is needed to set decay_bias")
        taus = leak_taus(self.options["tau_init"], float(self.options["tau_eps"]),
                         str(self.options["tau_spacing"]), self.dim)
        return {"decay_bias": decay_logits(taus, float(self.build_dt))}

    def prepare(self, ctx: LayerRunContext) -> dict[str, Tensor]:
        """Per-node values plus this forward's masked matrices W_in, W_hn and reset gate r."""
        values = super().prepare(ctx)
        hidden = self.dim
        w_hn = self.core.weight_hh[2 * hidden:]
        mode = self.options["candidate_diag"]
        if mode != "free":
            eye = torch.eye(hidden, dtype=w_hn.dtype, device=w_hn.device)
            w_hn = w_hn * (1.0 - eye) + (eye if mode == "one" else 0.0)
        values["_w_in"] = self.core.weight_ih[2 * hidden:]
        values["_w_hn"] = w_hn
        values["_reset"] = torch.sigmoid(torch.tensor(float(self.options["reset_bias"]),
                                                      dtype=w_hn.dtype, device=w_hn.device))
        return values

    def cell(self, phi: Tensor, hidden: dict[str, Tensor], values: dict[str, Tensor],
             ctx: LayerRunContext) -> dict[str, Tensor]:
        """n = tanh(W_in phi + b_n + r W_hn h); h' = z h + (1 - z) n."""
        h = hidden["h"]
        z = torch.sigmoid(self.step_param(values, "decay_bias", ctx))
        candidate = torch.tanh(phi @ values["_w_in"].t() + self.step_param(values, "candidate_bias", ctx)
                               + values["_reset"] * (h @ values["_w_hn"].t()))
        return {"h": candidate + z * (h - candidate)}

    def original_state_keys(self) -> list[str]:
        """Per-node parameters and the core matrices (core.bias_* / mask_* / eyeH are checked copies)."""
        return [*self.param_names(), "core.weight_ih", "core.weight_hh"]

    def _load_original_tensors(self, remaining: dict[str, Tensor]
                               ) -> list[tuple[Tensor, Tensor, str]]:
        hidden = self.dim
        out = self._take(remaining, ["weight_ih", "weight_hh"],
                         [self.core.weight_ih, self.core.weight_hh], ("core.",))
        rows = torch.zeros(3 * hidden, hidden)
        rows[2 * hidden:] = 1.0
        reset = torch.full((hidden,), float(self.options["reset_bias"]))
        expected = {"core.mask_ih": rows, "core.mask_hh": rows, "core.eyeH": torch.eye(hidden),
                    "core.bias_r_fixed": reset}
        for key, value in expected.items():
            if key in remaining:
                given = remaining.pop(key).float()
                if given.shape != value.shape or not torch.allclose(given, value, atol=1e-6):
                    raise OriginalStateError(
                        f"layer {self.layer_id} (LeakyGRU): original buffer '{key}' differs from what "
                        f"this layer's options imply (reset_bias {self.options['reset_bias']}, fixed masks)"
                    )
                out.append((None, given, key))
        for key, name in (("core.bias_z", "decay_bias"), ("core.bias_n", "candidate_bias")):
            if key not in remaining:
                continue
            copy = remaining.pop(key)
            if name not in remaining:
                remaining[name] = copy  # placed by the per-node parameter loop
            elif not torch.equal(copy.reshape(-1), remaining[name].reshape(-1)):
                raise OriginalStateError(
                    f"layer {self.layer_id} (LeakyGRU): original tensors '{name}' and '{key}' should "
                    "be the same tensor but differ")
            out.append((None, copy, key))
        return out
