"""The engine of ``--from-file``: walking an original training YAML against a table of keys.

A table is a :class:`Section` (key -> action, plus the keys of one of our schema dataclasses)
or a :class:`ListOf` sections; an action is a handler ``fn(ctx, original_path, value)`` that
writes into the :class:`TranslationContext`. The generic actions are here; the handlers of
single keys are in ``original_yaml_handlers`` and the tables in ``original_training_yaml``.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from soen_train.config.errors import ConfigError
from soen_train.registry import did_you_mean

Handler = Callable[["TranslationContext", str, Any], None]


class TranslationContext:
    """Collects the output tree and the report while one file is walked."""

    def __init__(self, source: str, prefix: str = "") -> None:
        self.source = source
        self.prefix = prefix  # where this (list entry's) mapping sits, for messages
        self.out: Dict[str, Any] = {}
        self.renamed: List[Tuple[str, str]] = []
        self.ignored: List[Tuple[str, str]] = []
        self.given: set = set()

    def put(self, path: str, value: Any) -> None:
        node = self.out
        parts = path.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
        self.given.add(path)

    def get(self, path: str, default: Any = None) -> Any:
        node: Any = self.out
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def rename(self, old: str, new: str, value: Any) -> None:
        self.put(new, value)
        self.renamed.append((old, new))

    def rename_value(self, path: str, target: str, old: Any, new: Any) -> None:
        """A value the original spelled differently (``unsupervised`` -> ``self_supervised``)."""
        self.put(target, new)
        shown = "null" if new is None else new
        self.renamed.append((f"{path}: {old}", f"{target}: {shown}"))

    def ignore(self, old: str, why: str) -> None:
        self.ignored.append((old, why))

    def error(self, path: str, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: '{self.prefix}{path}' {message}")


# ---------------------------------------------------------------------------------- actions
# Each action is a handler ``fn(ctx, original_path, value)``.


def same(new: Optional[str] = None) -> Handler:
    """Copy the value to ``new`` (default: the same path)."""

    def handle(ctx: TranslationContext, path: str, value: Any) -> None:
        target = new or path
        if target == path:
            ctx.put(target, value)
        else:
            ctx.rename(path, target, value)

    return handle


def optional_same(new: Optional[str] = None) -> Handler:
    """Copy the value unless it is null (our field is not optional; null means our default)."""
    inner = same(new)

    def handle(ctx: TranslationContext, path: str, value: Any) -> None:
        if value is not None:
            inner(ctx, path, value)

    return handle


def ignored(why: str) -> Handler:
    """A key the original read but never used: dropped with a warning."""

    def handle(ctx: TranslationContext, path: str, value: Any) -> None:
        ctx.ignore(path, why)

    return handle


def noop_unless(is_noop: Callable[[Any], bool], refusal: str, warn: Optional[str] = None) -> Handler:
    """A key whose behaviour soen-train lacks: fine (dropped) with its no-op value, else refused.

    ``warn`` turns a refusal into a dropped-with-warning row (for log-only switches).
    """

    def handle(ctx: TranslationContext, path: str, value: Any) -> None:
        if is_noop(value):
            return
        if warn is not None:
            ctx.ignore(path, warn)
            return
        raise ctx.error(path, f"= {value!r}: {refusal}")

    return handle


def falsy(value: Any) -> bool:
    return value in (None, False, 0, "", [], {}) or str(value).lower() in ("false", "no", "off", "0")


def is_one_of(*values: Any) -> Callable[[Any], bool]:
    return lambda v: v in values


@dataclass(frozen=True)
class Section:
    """A nested mapping of the original: its keys' handlers; ``schema_cls`` adds our own keys."""

    keys: Mapping[str, Any]
    schema_cls: Optional[type] = None


@dataclass(frozen=True)
class ListOf:
    """A list of mappings, each walked with ``section``; written to ``target``."""

    section: Section
    target: Optional[str] = None


def coerce_bool(value: Any) -> Any:
    if isinstance(value, str) and value.lower() in ("true", "yes", "on", "1"):
        return True
    if isinstance(value, str) and value.lower() in ("false", "no", "off", "0"):
        return False
    return value


def as_bool(new: Optional[str] = None) -> Handler:
    inner = same(new)

    def handle(ctx: TranslationContext, path: str, value: Any) -> None:
        inner(ctx, path, coerce_bool(value))

    return handle



def _schema_fields(cls: Optional[type]) -> Dict[str, Any]:
    if cls is None:
        return {}
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def walk(ctx: TranslationContext, value: Any, section: Section, path: str) -> None:
    """Translate mapping ``value`` found at ``path`` with ``section``'s handlers."""
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise ctx.error(path, f"= {value!r} must be a mapping")
    ours = _schema_fields(section.schema_cls)
    for key, val in value.items():
        key = str(key)
        where = f"{path}.{key}" if path else key
        action = section.keys.get(key)
        if action is None and key in ours:
            sub = ours[key]
            if dataclasses.is_dataclass(sub):
                action = Section({}, sub)
            else:
                action = same()
        if action is None:
            valid = sorted(set(section.keys) | set(ours))
            extra = did_you_mean(key, valid, prefix=ctx.prefix + (path + "." if path else ""))
            what = f"section '{(ctx.prefix + path).rstrip('.')}'" if (path or ctx.prefix) else "the top level"
            raise ctx.error(where, f"is not a key of {what} in the original's training config{extra}")
        if isinstance(action, Section):
            walk(ctx, val, action, where)
        elif isinstance(action, ListOf):
            items = val or []
            if not isinstance(items, list):
                raise ctx.error(where, f"= {val!r} must be a list")
            collected = []
            for index, item in enumerate(items):
                sub_ctx = TranslationContext(ctx.source, prefix=f"{where}[{index}].")
                walk(sub_ctx, item, action.section, "")
                ctx.renamed += [(f"{where}[{index}].{a}", f"{where}[{index}].{b}") for a, b in sub_ctx.renamed]
                ctx.ignored += [(f"{where}[{index}].{a}", why) for a, why in sub_ctx.ignored]
                collected.append(sub_ctx.out)
            ctx.put(action.target or where, collected)
        else:
            action(ctx, where, val)


