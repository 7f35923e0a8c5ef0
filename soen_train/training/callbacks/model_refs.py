"""Resolve the layer ids and connection names a callback setting refers to, against a model.

The helpers live in ``soen_train.training.model_access`` (one module for losses and
callbacks); this module keeps the callbacks' import path.
"""

from __future__ import annotations

from soen_train.training.model_access import (
    canonical_connection_name,
    connection_parameter,
    connection_tensors,
    model_layer_ids,
    output_layer_id,
    resolve_connections,
    resolve_layer_ids,
    unwrap_model,
)

__all__ = [
    "canonical_connection_name",
    "connection_parameter",
    "connection_tensors",
    "model_layer_ids",
    "output_layer_id",
    "resolve_connections",
    "resolve_layer_ids",
    "unwrap_model",
]
