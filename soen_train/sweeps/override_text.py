"""Write Python values as Hydra override text that parses back to the same value."""

from __future__ import annotations

import re
from typing import Any, Optional


def quote_override_value(text: str) -> str:
    """``text`` as a single-quoted Hydra override value that parses back to ``text`` exactly.

    Hydra un-escapes backslashes only before a quote or at the end of a quoted string, so
    only those are doubled. OmegaConf interpolations (``${...}``) cannot be passed this way.
    """
    if "${" in text:
        raise ValueError(f"{text!r} contains '${{', which Hydra would read as an interpolation")
    body = re.sub(r"(\\*)'", lambda m: m.group(1) * 2 + "\\'", text)
    body = re.sub(r"(\\+)\Z", lambda m: m.group(1) * 2, body)  # \Z: not before a final newline
    return f"'{body}'"


def primitive_text(value: Any) -> Optional[str]:
    """Override text for a bool, int, float or str; None for anything else.

    Plain words stay unquoted (``adam``, so job dirs named from overrides stay readable);
    other strings are quoted.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-./]*", value) and value.lower() not in _RESERVED:
            return value
        if "${" in value:
            return None  # an interpolation: leave it to Hydra's own rendering
        return quote_override_value(value)
    return None


#: Words Hydra would read as something other than a string when unquoted.
_RESERVED = {"true", "false", "null", "inf", "nan", "+inf", "-inf"}
