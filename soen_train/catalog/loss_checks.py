"""Value checks of the loss params, one per loss, run before training on both backends.

Each check receives every param of its loss (config values over the declared defaults) and
raises a ``ValueError`` naming the loss, the key, the value and what would be valid. The
loss declarations in ``soen_train.catalog.losses`` name their check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from soen_train.catalog.codebooks import codebook_values
from soen_train.catalog.param_checks import (
    as_list,
    check_bool,
    check_choice,
    check_int_list,
    check_number,
)

#: Label value that marks padding in sequence labels; it does not count in the loss.
PADDING_LABEL = -100

#: Distances of ``average_state_magnitude_loss``.
MAGNITUDE_LOSS_TYPES = ("mse", "l2", "mae", "l1")

#: Distances of ``gravity_quantization_loss``.
DISTANCE_MODES = ("mae", "l1", "mse", "l2")


def ignore_index_check(loss: str) -> Callable[..., None]:
    """A param check for losses whose only param is an integer ``ignore_index``."""

    def check(ignore_index: int = PADDING_LABEL) -> None:
        check_number(f"loss '{loss}'", "ignore_index", ignore_index, integer=True)

    return check


def _check_ratio_params(
    owner: str, target: tuple, use_log: tuple, factor: float, clamp_min: float, clamp_max: float
) -> None:
    """Shared checks; ``target`` and ``use_log`` are (param name, value) pairs."""
    check_number(owner, "factor", factor)
    log_domain = check_bool(owner, use_log[0], use_log[1])
    lo = check_number(owner, "clamp_min", clamp_min, minimum=0.0, min_inclusive=False)
    hi = check_number(owner, "clamp_max", clamp_max)
    if hi <= lo:
        raise ValueError(f"{owner}: clamp_max ({hi}) must be greater than clamp_min ({lo})")
    # ln(target) must exist in the log domain.
    check_number(owner, target[0], target[1], minimum=0.0, min_inclusive=not log_domain)


def check_branching(
    target_sigma: float, factor: float, use_log_domain: bool, clamp_min: float,
    clamp_max: float, eps_scale: float, layer_ids: Iterable[int] | None,
) -> None:
    owner = "loss 'branching_loss'"
    _check_ratio_params(
        owner, ("target_sigma", target_sigma), ("use_log_domain", use_log_domain), factor,
        clamp_min, clamp_max,
    )
    check_number(owner, "eps_scale", eps_scale, minimum=0.0)
    if layer_ids is not None:
        check_int_list(owner, "layer_ids", layer_ids)


def check_expansion(
    target_value: float, perturbation_scale: float, factor: float, per_layer: bool, eps: float,
    use_log_loss: bool, clamp_min: float, clamp_max: float, layer_ids: Iterable[int] | None,
    detach_clean: bool,
) -> None:
    owner = "loss 'local_expansion_loss'"
    _check_ratio_params(
        owner, ("target_value", target_value), ("use_log_loss", use_log_loss), factor,
        clamp_min, clamp_max,
    )
    check_number(owner, "perturbation_scale", perturbation_scale, minimum=0.0, min_inclusive=False)
    check_bool(owner, "per_layer", per_layer)
    check_bool(owner, "detach_clean", detach_clean)
    check_number(owner, "eps", eps, minimum=0.0, min_inclusive=False)
    if layer_ids is not None:
        check_int_list(owner, "layer_ids", layer_ids)


def check_top_gap(separation_threshold: float, max_penalty_offset: float, factor: float) -> None:
    owner = "loss 'top_gap_loss'"
    check_number(owner, "separation_threshold", separation_threshold, minimum=0.0, min_inclusive=False)
    check_number(owner, "max_penalty_offset", max_penalty_offset, minimum=0.0)
    check_number(owner, "factor", factor)


def check_gap(margin: float) -> None:
    check_number("loss 'gap_loss'", "margin", margin, minimum=0.0)


def check_rich(
    margin: float, sigma_noise: float, lambda_gap: float, lambda_noise: float,
    lambda_entropy: float, lambda_consistency: float, lambda_diversity: float,
) -> None:
    owner = "loss 'rich_margin_loss'"
    check_number(owner, "margin", margin, minimum=0.0)
    check_number(owner, "sigma_noise", sigma_noise, minimum=0.0)
    for key, value in (
        ("lambda_gap", lambda_gap), ("lambda_noise", lambda_noise),
        ("lambda_entropy", lambda_entropy), ("lambda_consistency", lambda_consistency),
        ("lambda_diversity", lambda_diversity),
    ):
        check_number(owner, key, value)


def check_ground(
    threshold: float, min_penalty_offset: float, max_penalty_offset: float, factor: float
) -> None:
    owner = "loss 'get_off_the_ground_loss'"
    check_number(owner, "threshold", threshold, minimum=0.0, min_inclusive=False)
    lo = check_number(owner, "min_penalty_offset", min_penalty_offset)
    hi = check_number(owner, "max_penalty_offset", max_penalty_offset)
    check_number(owner, "factor", factor)
    if lo > hi:
        raise ValueError(
            f"{owner}: min_penalty_offset ({lo}) must not exceed max_penalty_offset ({hi})"
        )


def exp_excess_check(loss: str) -> Callable[..., None]:
    """The check of an exponential penalty above a threshold: threshold >= 0, scale > 0."""

    def check(threshold: float, scale: float, factor: float) -> None:
        owner = f"loss '{loss}'"
        check_number(owner, "threshold", threshold, minimum=0.0)
        check_number(owner, "scale", scale, minimum=0.0, min_inclusive=False)
        check_number(owner, "factor", factor)

    return check


def check_magnitude(
    target_magnitude: float, loss_type: str, factor: float, layer_ids: Iterable[int] | None
) -> None:
    owner = "loss 'average_state_magnitude_loss'"
    check_number(owner, "target_magnitude", target_magnitude, minimum=0.0)
    check_choice(owner, "loss_type", loss_type, MAGNITUDE_LOSS_TYPES)
    check_number(owner, "factor", factor)
    if layer_ids is not None:
        check_int_list(owner, "layer_ids", layer_ids)


def check_decay(zero_input_steps: int, layer_ids: Iterable[int] | None) -> None:
    owner = "loss 'ensure_post_sample_decay'"
    check_number(owner, "zero_input_steps", zero_input_steps, minimum=0, integer=True)
    if layer_ids is not None:
        check_int_list(owner, "layer_ids", layer_ids)


def check_gravity(
    codebook: Any, min_val: Any, max_val: Any, bits: Any, levels: Any, factor: Any,
    connections: Any, mode: Any,
) -> None:
    owner = "loss 'gravity_quantization_loss'"
    codebook_values(codebook, min_val, max_val, bits, levels, owner)
    check_number(owner, "factor", factor)
    check_choice(owner, "mode", mode, DISTANCE_MODES)
    if connections is not None:
        names = as_list(owner, "connections", connections)
        if not names:
            raise ValueError(f"{owner}: 'connections' must not be empty (omit it to use all)")

