"""Errors raised while composing and validating a job's configuration."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from soen_train.errors import ConfigError, SOENError

__all__ = ["ConfigError", "error_text", "keyed"]

T = TypeVar("T")


def error_text(err: BaseException) -> str:
    """An exception's message (a KeyError's without the quotes ``str`` adds)."""
    return str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)


def keyed(setting: str, make: Callable[[], T]) -> T:
    """Run ``make``; a plain ValueError/TypeError/KeyError (or a user error whose message does not
    name ``setting``) becomes a ConfigError that starts with ``setting``.

    For the checks of a catalog entry, which know their values but not where in the config
    they sit. A ``ConfigError`` passes unchanged: it already names its key.
    """
    try:
        return make()
    except ConfigError:
        raise
    except (SOENError, ValueError, TypeError, KeyError) as err:
        text = error_text(err)
        raise ConfigError(text if text.startswith(setting) else f"{setting}: {text}") from None
