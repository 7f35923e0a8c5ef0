"""JAX backend (``training.backend=jax``): the SOEN simulator on ``lax.scan`` and its array maths.

    from soen_train.jax import JaxSOEN
    jax_model, params = JaxSOEN.from_torch(model)   # model: a SOENModel
    histories = jax_model.apply(params, x)          # {layer_id: [B, T+1, D]}

This package holds only array maths (layers, source functions, scan, network evaluation,
losses, pooling, the train step) and the ``.jax.npz`` checkpoint format; the training loop
that drives it over epochs is ``soen_train.training.jax_loop`` (``run_jax_repeat``).

An optional extra (``pip install soen-train[jax]``): names load on first use, so importing
this package does not import JAX. See ``docs/jax.md`` for what is supported and refused.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the same names, visible to type checkers and IDEs
    from soen_train.jax.checkpoint import JaxCheckpoint, load_checkpoint, save_checkpoint
    from soen_train.jax.errors import JaxCheckpointError, JaxNonFiniteLossError, JaxUnsupportedError
    from soen_train.jax.simulator import JaxSOEN

_EXPORTS = {
    "JaxSOEN": "soen_train.jax.simulator",
    "JaxCheckpoint": "soen_train.jax.checkpoint",
    "load_checkpoint": "soen_train.jax.checkpoint",
    "save_checkpoint": "soen_train.jax.checkpoint",
    "JaxUnsupportedError": "soen_train.jax.errors",
    "JaxCheckpointError": "soen_train.jax.errors",
    "JaxNonFiniteLossError": "soen_train.jax.errors",
}

__all__ = [
    "JaxCheckpoint",
    "JaxCheckpointError",
    "JaxNonFiniteLossError",
    "JaxSOEN",
    "JaxUnsupportedError",
    "load_checkpoint",
    "save_checkpoint",
]


def __getattr__(name: str) -> Any:
    """Import an exported name from its module on first use."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'soen_train.jax' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
