"""Base error for everything a user can get wrong (config, data, model files, checkpoints).

Each package subclasses it (``ConfigError``, ``DataError``, ``ModelSpecError``, ...); the CLI
prints any ``SOENError`` as one line naming the file, key or value and what would be valid.
"""

from __future__ import annotations


class SOENError(Exception):
    """An error caused by user input; its message alone tells the user what to fix."""
