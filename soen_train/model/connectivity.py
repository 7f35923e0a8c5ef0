"""Connection patterns (which entries of J exist) and weight initialisers (their values).

A connection from a layer with ``n_from`` nodes to one with ``n_to`` nodes has a weight
matrix J of shape [n_to, n_from] and a 0/1 mask of the same shape (row = target, column =
source). Patterns build masks (``connection_patterns``), initialisers fill the matrix
(``weight_inits``); the result is weights * mask. This module gathers both catalogs' public
names, so ``from soen_train.model.connectivity import build_mask, init_weights`` keeps working.

Both follow the original SOEN toolkit exactly: the same rules and, for the random ones,
the same float32 torch calls in the same order, then the initialiser's draw over the FULL
[to, from] matrix. With a generator in the state the original's global generator is in,
masks and weights are bit-identical to the original's. Files (``custom`` masks and weights)
are read with ``allow_pickle=False``.
"""

from __future__ import annotations

from .connection_patterns import (
    BLOCK_MODES,
    CONNECTION_PATTERNS,
    PATTERN_KEYS,
    SCOPES,
    Gen,
    Pattern,
    build_mask,
    hierarchical_mask,
    pattern_defaults,
)
from .weight_inits import (
    INIT_KEYS,
    WEIGHT_INITS,
    WeightInit,
    init_defaults,
    init_weights,
    kaiming_gain,
    mask_fans,
)

__all__ = [
    "BLOCK_MODES", "CONNECTION_PATTERNS", "INIT_KEYS", "PATTERN_KEYS", "SCOPES", "WEIGHT_INITS",
    "Gen", "Pattern", "WeightInit", "build_mask", "hierarchical_mask", "init_defaults",
    "init_weights", "kaiming_gain", "mask_fans", "pattern_defaults",
]
