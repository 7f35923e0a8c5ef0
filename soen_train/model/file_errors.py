"""The error of model files (defined in ``soen_train.errors``), importable from here as before.

Both readers of model files (``soen_file`` for ours, ``original_import`` for the original
toolkit's) raise it without importing each other."""

from __future__ import annotations

from soen_train.errors import SoenFileError

__all__ = ["SoenFileError"]

