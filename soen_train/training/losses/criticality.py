"""Criticality losses: drive the network towards the edge of chaos (expansion ratio near 1).

``branching_loss`` estimates, per layer and step, how much flux a layer sends on relative to
the flux it receives; ``local_expansion_loss`` measures how a tiny input perturbation grows
from one step to the next with a second forward pass. Both are dimensionless ratios.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from soen_train.catalog.losses import LOSS_CATALOG
from soen_train.catalog.param_checks import check_int_list
from soen_train.training.losses.context import LossContext
from soen_train.training.losses.model_access import (
    check_layer_ids,
    connection_endpoints,
    connection_weights,
    layer_parameter,
)

#: Epsilon inside the smooth absolute value sqrt(x^2 + 1e-8).
SOFTABS_EPS = 1e-8

def _softabs(x: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(x.pow(2) + SOFTABS_EPS)


def _ratio_penalty(
    ratios: list[torch.Tensor], target: float, use_log: bool, clamp_min: float, clamp_max: float,
    per_layer: bool,
) -> torch.Tensor:
    """Mean of (ln clamp(r) - ln target)^2, or of (r - target)^2, over all ratios or per layer."""

    def penalty(r: torch.Tensor) -> torch.Tensor:
        if use_log:
            return (torch.log(r.clamp(clamp_min, clamp_max)) - math.log(target)).pow(2)
        return (r - target).pow(2)

    if per_layer:
        return torch.stack([penalty(r).mean() for r in ratios]).mean()
    return penalty(torch.cat([r.reshape(-1) for r in ratios])).mean()


def _branching_layers(weights: dict[str, torch.Tensor]) -> dict[int, dict[str, list]]:
    """Per layer: inbound (from, J) and outbound (to, J), a layer's internal connection in both.

    As in the original, a layer's internal (L -> L) connection carries flux on to the layer's
    own next step, so it counts as outbound; a layer qualifies when it also has an inbound
    connection from another layer.
    """
    layers: dict[int, dict[str, list]] = {}
    for name, w in weights.items():
        src, dst = connection_endpoints(name)
        layers.setdefault(dst, {"in": [], "out": []})["in"].append((src, w))
        layers.setdefault(src, {"in": [], "out": []})["out"].append((dst, w))
    return {
        lid: io for lid, io in layers.items()
        if io["out"] and any(src != lid for src, _ in io["in"])
    }


@LOSS_CATALOG.torch("branching_loss")
def branching_loss(
    ctx: LossContext,
    target_sigma: float = 1.0,
    factor: float = 1.0,
    use_log_domain: bool = True,
    clamp_min: float = 0.1,
    clamp_max: float = 10.0,
    eps_scale: float = 1e-6,
    layer_ids: Iterable[int] | None = None,
) -> torch.Tensor:
    """Push the branching ratio sigma of each hidden layer towards ``target_sigma``.

    For a layer L with inbound and outbound connections, at each sample and step t >= 1:
    phi_in = sum_j s_j(t) J_{j->L}^T (+ s_L(t) J_int^T + phi_offset), phi_out_i =
    softabs(s_i) * sum_k |J_{L->k}|_{:, i} (k includes L itself when L has an internal
    connection); over the neurons with both inbound and outbound
    connections, sigma = sum_i (phi_out_i + eps) / (sum_i softabs(phi_in_i) + eps * n), with
    softabs(x) = sqrt(x^2 + 1e-8) and eps = eps_scale * max(mean softabs(phi_in), mean |s|,
    1e-6). Loss: factor * mean (ln clamp(sigma) - ln target_sigma)^2 (log domain), else
    factor * mean (sigma - target_sigma)^2. The original ignored target_sigma in the log
    domain; here it is honoured.
    """
    loss = "branching_loss"
    sim = ctx.require_sim(loss)
    model = ctx.require_model(loss)
    states = {int(k): v for k, v in sim.states.items()}
    eligible = _branching_layers(connection_weights(model, loss, learnable_only=False))
    if layer_ids is None:
        ids = sorted(eligible)
        if not ids:
            raise ValueError(
                f"loss '{loss}': no layer has both inbound and outbound connections, so no "
                "branching ratio is defined"
            )
    else:
        ids = check_layer_ids(
            check_int_list(f"loss '{loss}'", "layer_ids", layer_ids), eligible, loss,
            "layers with both inbound and outbound connections",
        )
    ratios = []
    for lid in ids:
        s = states[lid][:, 1:, :]
        phi_in = torch.zeros_like(s)
        in_strength = torch.zeros(s.shape[-1], dtype=s.dtype, device=s.device)
        for src, w in eligible[lid]["in"]:
            phi_in = phi_in + states[src][:, 1:, :] @ w.T
            if src != lid:
                in_strength = in_strength + w.detach().abs().sum(dim=1)
        offset = layer_parameter(model, lid, "phi_offset")
        if offset is not None:
            phi_in = phi_in + offset
        out_strength = sum(w.abs().sum(dim=0) for _, w in eligible[lid]["out"])
        connected = ((out_strength.detach() > 0) & (in_strength > 0)).to(s.dtype)
        n_conn = connected.sum()
        if n_conn == 0:
            continue
        soft_in = _softabs(phi_in)
        eps = eps_scale * max(float(soft_in.detach().mean()), float(s.detach().abs().mean()), 1e-6)
        numerator = ((_softabs(s) * out_strength + eps) * connected).sum(dim=-1)
        denominator = (soft_in * connected).sum(dim=-1) + eps * n_conn
        ratios.append(numerator / denominator)
    if not ratios:
        raise ValueError(f"loss '{loss}': no neuron has both inbound and outbound connections")
    return factor * _ratio_penalty(
        ratios, target_sigma, use_log_domain, clamp_min, clamp_max, per_layer=False
    )


@LOSS_CATALOG.torch("local_expansion_loss")
def local_expansion_loss(
    ctx: LossContext,
    target_value: float = 1.0,
    perturbation_scale: float = 1e-5,
    factor: float = 1.0,
    per_layer: bool = False,
    eps: float = 1e-8,
    use_log_loss: bool = True,
    clamp_min: float = 1e-2,
    clamp_max: float = 1e2,
    layer_ids: Iterable[int] | None = None,
    detach_clean: bool = False,
) -> torch.Tensor:
    """Push the step-to-step growth of a small perturbation towards ``target_value``.

    delta = N(0, 1) * perturbation_scale * (mean|x| + eps); a second forward pass on x + delta
    gives histories h'. Per layer, d_t = ||h'_t - h_t||_2 over that layer's nodes (t >= 1) and
    sigma_t = d_t / (d_{t-1} + eps) for t >= 2. Penalty: mean (ln clamp(sigma) - ln target)^2
    (``use_log_loss``) or mean (sigma - target)^2, over the ratios of all selected layers
    pooled, or averaged per layer then over layers with ``per_layer``; times factor.
    Default layers: every simulated layer, the input layer included (as in the original).
    Doubles the forward cost.

    ``detach_clean`` (default false; true is the original's behaviour) stops gradients through the clean
    histories. Then d_t moves by O(1) per unit weight change while d_t itself is
    O(perturbation_scale), so gradients are about 1/perturbation_scale larger than those of
    the other losses; with ``detach_clean: false`` both passes carry gradients and the
    gradient is that of the expansion ratio itself (O(1)).
    """
    loss = "local_expansion_loss"
    sim = ctx.require_sim(loss)
    forward = ctx.require_forward(loss)
    x = ctx.require_inputs(loss)
    clean = {int(k): (v.detach() if detach_clean else v) for k, v in sim.states.items()}
    if layer_ids is None:
        ids = sorted(clean)
    else:
        ids = check_layer_ids(
            check_int_list(f"loss '{loss}'", "layer_ids", layer_ids), clean, loss, "in the simulation"
        )
    if not ids:
        raise ValueError(f"loss '{loss}': no simulated layer to measure")
    scale = perturbation_scale * (float(x.detach().abs().mean()) + eps)
    perturbed = forward(x.detach() + torch.randn_like(x) * scale)
    diffs = [perturbed.states[lid][:, 1:, :] - clean[lid][:, 1:, :] for lid in ids]
    ratios = []
    for diff in diffs:
        dist = torch.linalg.vector_norm(diff, dim=-1)
        if dist.shape[1] < 2:
            raise ValueError(f"loss '{loss}' needs at least 2 time steps, got {dist.shape[1]}")
        ratios.append(dist[:, 1:] / (dist[:, :-1] + eps))
    return factor * _ratio_penalty(
        ratios, target_value, use_log_loss, clamp_min, clamp_max, per_layer=per_layer
    )
