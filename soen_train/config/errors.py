"""Errors raised while composing and validating a job's configuration."""

from __future__ import annotations

from soen_train.errors import ConfigError

__all__ = ["ConfigError"]

