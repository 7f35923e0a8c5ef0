"""Errors of the JAX backend: features it cannot run, and broken JAX checkpoints.

Both derive from ``SOENError`` so the CLI prints them as one line that says what to change.
"""

from __future__ import annotations

from soen_train.errors import SOENError


class JaxUnsupportedError(SOENError, ValueError):
    """A model feature or config key the JAX backend does not run; the message names it.

    The JAX backend never ignores a setting: anything it cannot reproduce exactly raises
    this error naming the layer, connection or config key and what to do instead
    (usually: switch it off, or use ``training.backend=torch``).
    """


class JaxCheckpointError(SOENError, ValueError):
    """A JAX checkpoint file that is missing, incomplete or does not match its model."""


class JaxNonFiniteLossError(SOENError, FloatingPointError):
    """A NaN or Inf training loss: the run stops instead of corrupting the weights."""
