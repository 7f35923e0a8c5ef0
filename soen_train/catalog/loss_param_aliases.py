"""Parameter names of the original SOEN toolkit's losses that soen_train spells differently.

A loss entry may give either name; ``canonical_params`` turns the original's names into ours
before the params are checked against the loss's signature. A param given under both names
is an error (they would silently overwrite each other).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: loss name -> {original param name: our param name}.
LOSS_PARAM_ALIASES: dict[str, dict[str, str]] = {
    "rich_margin_loss": {
        "λ_gap": "lambda_gap",
        "λ_noise": "lambda_noise",
        "λ_entropy": "lambda_entropy",
        "λ_consistency": "lambda_consistency",
        "λ_diversity": "lambda_diversity",
    },
    "gravity_quantization_loss": {"num_levels": "levels"},
    "ensure_post_sample_decay": {"num_zero_steps": "zero_input_steps"},
}


def canonical_params(loss: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` of loss ``loss`` (canonical name) with the original's names replaced by ours."""
    aliases = LOSS_PARAM_ALIASES.get(loss, {})
    out: dict[str, Any] = {}
    for key, value in params.items():
        name = aliases.get(str(key), str(key))
        if name in out:
            raise ValueError(
                f"loss '{loss}': parameter '{name}' is given twice (also as '{key}', the "
                "original toolkit's name for it); keep one"
            )
        out[name] = value
    return out
