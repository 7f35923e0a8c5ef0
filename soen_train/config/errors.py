"""Errors raised while composing and validating a job's configuration."""

from __future__ import annotations

from soen_train.errors import SOENError


class ConfigError(SOENError, ValueError):
    """An invalid config key, value or combination; the message names the key and valid values."""
