"""The loss catalog, declared once: name, params with defaults, what each loss needs, checks.

A loss is ``fn(ctx, **params) -> scalar``; the torch losses (``soen_train.training.losses``)
and the JAX losses (``soen_train.jax.losses``) both register against ``LOSS_CATALOG``, so
their param names and defaults cannot drift apart, and a loss one backend lacks says why.
``validate_loss_params`` is the one check of a loss config, used by both backends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from soen_train.catalog.declaration import Catalog, entry
from soen_train.catalog.loss_checks import (
    check_branching,
    check_decay,
    check_expansion,
    check_gap,
    check_gravity,
    check_ground,
    check_magnitude,
    check_rich,
    check_top_gap,
    exp_excess_check,
    ignore_index_check,
)
from soen_train.catalog.loss_param_aliases import canonical_params
from soen_train.registry import check_params

#: What a loss can ask of the trainer:
#: ``targets`` labels in ``ctx.targets``; ``pooled`` seq2static pooled outputs in ``ctx.pooled``;
#: ``model`` the model in ``ctx.model``; ``sim`` a SimulationResult (all layer histories) in
#: ``ctx.sim``; ``track_g`` that result with g tracked; ``forward`` a callable for a second pass.
NEEDS_VOCABULARY: frozenset[str] = frozenset(
    {"targets", "pooled", "model", "sim", "track_g", "forward"}
)

#: Every loss (docs/catalog.md groups them by kind).
LOSS_CATALOG = Catalog(
    "loss",
    [
        entry(
            "cross_entropy",
            params={"ignore_index": -100},
            needs={"targets"},
            summary=(
                "mean cross entropy of logits vs class ids. seq2static: [B, C] vs [B]; seq2seq: [B, "
                "T, C] vs [B, T], flattened. Labels equal to `ignore_index` (padding) do not count."
            ),
            check=ignore_index_check("cross_entropy"),
        ),
        entry(
            "autoregressive_cross_entropy",
            params={"ignore_index": -100},
            summary=(
                "next-token prediction: the output at step t is scored against token t+1 (the last "
                "output is unused). Tokens come from integer targets [B, T] or, without targets, from "
                "one-hot inputs [B, T, V] (or integer inputs [B, T, 1]). Needs seq2seq outputs."
            ),
            check=ignore_index_check("autoregressive_cross_entropy"),
        ),
        entry(
            "mse",
            needs={"targets"},
            summary=(
                "mean squared error after alignment: histories of lengths T+1 and T lose their step "
                "0; outputs [B, T, 1] with targets [B, T]; outputs [B, K] with targets [B, T, K] use "
                "the target time mean; outputs [B, T, K] with targets [B, K] use the output time "
                "mean; [B, 1] with [B]. Any other mismatch is an error naming both shapes."
            ),
        ),
        entry(
            "top_gap_loss",
            params={"separation_threshold": 0.1, "max_penalty_offset": 1.0, "factor": 1.0},
            needs={"targets", "pooled"},
            summary=(
                "on raw outputs z / scale: per sample, wrong top-1 → `max_penalty_offset`; correct "
                "top-1 → `max_penalty_offset` · max(0, sep − (z_top1 − z_top2)) / sep; `factor` · "
                "mean. 0 with fewer than 2 classes."
            ),
            check=check_top_gap,
        ),
        entry(
            "gap_loss",
            params={"margin": 1.0},
            needs={"targets", "pooled"},
            summary=(
                "mean over samples of sum over wrong classes c of relu(z_c − z_y + margin)"
            ),
            param_notes="`margin` >= 0",
            check=check_gap,
        ),
        entry(
            "rich_margin_loss",
            params={"margin": 0.5, "sigma_noise": 0.05, "lambda_gap": 1.0, "lambda_noise": 0.3, "lambda_entropy": 0.1, "lambda_consistency": 0.2, "lambda_diversity": 0.1},
            needs={"targets", "pooled"},
            summary=(
                "λ_gap·gap + λ_noise·KL − λ_entropy·H + λ_consistency·consistency + "
                "λ_diversity·diversity, where gap = mean_b sum_{c≠y} relu(margin + z_c − z_y)² (1 − "
                "σ(z_y − z_c)); KL(softmax(z) ‖ softmax(z + ε·sigma_noise·|z|)), ε ~ N(0, 1); H = "
                "mean entropy of softmax(z); consistency = mean over sample pairs of (cos(z_i, z_j) − "
                "[y_i = y_j])²; diversity = mean cosine similarity between the mean logits of each "
                "pair of classes present"
            ),
            no_jax="not ported: its noise term needs a random key per step",
            check=check_rich,
        ),
        entry(
            "reg_J_loss", "reg_j_loss",
            params={"threshold": 0.24, "scale": 1.0, "factor": 0.01},
            needs={"model"},
            summary=(
                "`factor` · sum over learnable weights with |w| > threshold of (exp(scale (|w| − "
                "threshold)) − 1). A sum, as in the original, so it grows with the number of "
                "offending weights. Keeps couplings under the hardware limit of about 0.24."
            ),
            check=exp_excess_check("reg_J_loss"),
        ),
        entry(
            "gravity_quantization_loss",
            params={"codebook": None, "min_val": None, "max_val": None, "bits": None, "levels": None, "factor": 1.0, "connections": None, "mode": "mae"},
            needs={"model"},
            summary=(
                "`factor` · mean over every element of the selected connections of the distance to "
                "the nearest codebook level: |w − c| (`mode` mae or l1) or (w − c)² (mse or l2)."
            ),
            param_notes="give `codebook` (a list) or `min_val` + `max_val` + (`bits` or `levels`); with none of them the default codebook; `connections` null = all learnable ones (names `\"<from>_to_<to>\"`)",
            check=check_gravity,
        ),
        entry(
            "get_off_the_ground_loss",
            params={"threshold": 0.01, "min_penalty_offset": 0.5, "max_penalty_offset": 10.0, "factor": 1.0},
            summary=(
                "penalise outputs stuck near 0: for |s| <= threshold the penalty falls linearly from "
                "`max_penalty_offset` (at 0) to `min_penalty_offset` (at the threshold), clipped at "
                "0; 0 above; `factor` · mean"
            ),
            param_notes="`threshold` > 0",
            check=check_ground,
        ),
        entry(
            "exp_high_state_penalty",
            params={"threshold": 1.0, "scale": 1.0, "factor": 1.0},
            summary=(
                "`factor` · mean(exp(scale · max(0, |s| − threshold)) − 1)"
            ),
            check=exp_excess_check("exp_high_state_penalty"),
        ),
        entry(
            "average_state_magnitude_loss",
            params={"target_magnitude": 0.5, "loss_type": "mse", "factor": 1.0, "layer_ids": None},
            needs={"sim"},
            summary=(
                "m = mean |s| over batch, steps 1..T and nodes of the selected layers together; "
                "`factor` · (m − target)² (`loss_type` mse/l2) or `factor` · |m − target| (mae/l1)"
            ),
            param_notes="`layer_ids` null = all layers",
            check=check_magnitude,
        ),
        entry(
            "ensure_post_sample_decay",
            params={"zero_input_steps": 0, "layer_ids": None},
            needs={"track_g", "model", "sim"},
            summary=(
                "mean |g| of the SingleDendrite layers at the sample's last step, so that states "
                "decay once the input ends; with `zero_input_steps` n > 0 the model continues from "
                "its final states for n steps of zero input and the mean also covers those steps"
            ),
            param_notes="`layer_ids` null = all SingleDendrite layers",
            no_jax="not ported: it needs tracked g and a continued simulation from the final states",
            check=check_decay,
        ),
        entry(
            "final_timestep_zero_mse",
            needs={"sim"},
            summary=(
                "mean square of the raw output state at the last step"
            ),
        ),
        entry(
            "branching_loss",
            params={"target_sigma": 1.0, "factor": 1.0, "use_log_domain": True, "clamp_min": 0.1, "clamp_max": 10.0, "eps_scale": 1e-06, "layer_ids": None},
            needs={"model", "sim"},
            summary=(
                "per layer L with inbound and outbound connections (a layer's internal connection "
                "counts as outbound, as in the original) and each (sample, step t >= 1): φ_in = Σ_j "
                "s_j(t) J_{j→L}ᵀ (internal J included, plus `phi_offset`), φ_out,i = softabs(s_i)·Σ_k "
                "|J_{L→k}|_{:,i} (k = L included); over neurons with both inbound and outbound "
                "connections σ = Σ(φ_out,i + ε) / (Σ softabs(φ_in,i) + ε·n), softabs(x) = sqrt(x² + "
                "1e-8), ε = eps_scale·max(mean softabs(φ_in), mean |s|, 1e-6). Loss `factor` · "
                "mean(ln clamp(σ) − ln target_sigma)² (log domain) or `factor` · mean(σ − "
                "target_sigma)²."
            ),
            param_notes="`layer_ids` null = all eligible layers",
            no_jax="not ported: it needs every layer's connection fluxes, which the JAX network does not return",
            check=check_branching,
        ),
        entry(
            "local_expansion_loss",
            params={"target_value": 1.0, "perturbation_scale": 1e-05, "factor": 1.0, "per_layer": False, "eps": 1e-08, "use_log_loss": True, "clamp_min": 0.01, "clamp_max": 100.0, "layer_ids": None, "detach_clean": False},
            needs={"model", "forward", "sim"},
            summary=(
                "second forward pass on x + δ, δ = N(0, 1)·perturbation_scale·(mean|x| + eps); per "
                "layer, d_t = ‖h'_t − h_t‖₂ over that layer's nodes and σ_t = d_t / (d_{t−1} + eps) "
                "for t >= 2; `factor` · mean(ln clamp(σ) − ln target_value)², or mean(σ − "
                "target_value)² without `use_log_loss`, over the ratios of all selected layers "
                "pooled, or with `per_layer` averaged per layer and then over layers. Doubles the "
                "forward cost. With `detach_clean: true` (the original's behaviour) gradients flow "
                "only through the perturbed pass and come out about 1/perturbation_scale times larger "
                "than other losses' (measured on the pulse net: max |∂L/∂J| ≈ 5e5 at scale 1e-5, 8e3 "
                "at 1e-3, against ≈ 1–2 with `detach_clean: false`); set it to false, or a small "
                "`weight`, to keep this term from dominating."
            ),
            param_notes="`layer_ids` null = all simulated layers, the input layer included",
            no_jax="not ported: it runs a second, perturbed forward pass inside the loss",
            check=check_expansion,
        ),
    ],
    needs_vocabulary=NEEDS_VOCABULARY,
)


def loss_parameters(name: str) -> dict[str, Any]:
    """Accepted params of loss ``name`` (or an alias) with their declared defaults."""
    return dict(LOSS_CATALOG.declaration(name).params)


def loss_needs(name: str) -> frozenset[str]:
    """What loss ``name`` needs from the trainer (a subset of ``NEEDS_VOCABULARY``)."""
    return LOSS_CATALOG.declaration(name).needs


def validate_loss_params(name: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Check names and values of ``params`` for loss ``name``; return them as a plain dict.

    Unknown names raise an error naming the loss and listing its valid params; value checks
    (ranges, choices, incomplete codebook settings) run with the defaults filled in. The
    original toolkit's param names (``loss_param_aliases.py``) are accepted and returned as ours.
    """
    decl = LOSS_CATALOG.declaration(name)
    given = canonical_params(decl.name, dict(params or {}))
    check_params(f"loss '{decl.name}'", given, decl.params)
    if decl.check is not None:
        decl.check(**{**decl.params, **given})
    return given
