"""Errors of the JAX backend: features it cannot run, and broken JAX checkpoints.

Defined with every other error in ``soen_train.errors`` (all derive from ``SOENError``, so the
CLI prints them as one line that says what to change); importable from here as before.
"""

from __future__ import annotations

from soen_train.errors import JaxCheckpointError, JaxNonFiniteLossError, JaxUnsupportedError

__all__ = ["JaxCheckpointError", "JaxNonFiniteLossError", "JaxUnsupportedError"]

