"""Read what losses need from a SOEN model through its public API only.

The helpers live in ``soen_train.training.model_access`` (one module for losses and
callbacks); this module keeps the losses' import path (``select_connections``, which the JAX backend's
losses share, is in ``soen_train.catalog.connection_selection``).
"""

from __future__ import annotations

from soen_train.catalog.connection_selection import select_connections  # noqa: F401  (old path)
from soen_train.training.model_access import (  # noqa: F401  (re-exported: the losses' path)
    check_layer_ids,
    connection_endpoints,
    connection_weights,
    layer_parameter,
    layer_types,
)

__all__ = [
    "check_layer_ids",
    "connection_endpoints",
    "connection_weights",
    "layer_parameter",
    "layer_types",
    "select_connections",
]
