"""The error of model files, in a module of its own so that both readers of ``.soen`` files
(``soen_file`` for ours, ``original_import`` for the original toolkit's) raise it without
importing each other."""

from __future__ import annotations

from soen_train.errors import SOENError


class SoenFileError(SOENError, ValueError):
    """A model file cannot be read (wrong format, unsafe content, or inconsistent)."""
