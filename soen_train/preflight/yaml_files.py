"""Strict reading of the YAML files a user hands in (config files, architecture files).

PyYAML's safe loader keeps the last of two equal keys without a word and raises a multi-line
error on a ``!!python/...`` tag. Here both are one-line errors naming the file and line: a
duplicate key is almost always a copy-paste slip, and a Python tag asks to run code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from soen_train.config.errors import ConfigError

YAML_SUFFIXES = (".yaml", ".yml")


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                continue  # the base class reports unhashable keys itself
            if key in seen:
                raise _DuplicateKey(key, seen[key], key_node.start_mark.line + 1)
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


class _DuplicateKey(Exception):
    def __init__(self, key: Any, first_line: int, line: int) -> None:
        super().__init__(key)
        self.key, self.first_line, self.line = key, first_line, line


def load_yaml_strict(path: Path, what: str) -> Any:
    """Parse ``path``; a duplicate key, a Python tag or a syntax error is a ConfigError.

    ``what`` says which key or option named the file (for the message)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{what}: {path} is not a UTF-8 text file") from None
    except OSError as err:
        raise ConfigError(f"{what}: cannot read {path} ({err.strerror or err})") from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except _DuplicateKey as dup:
        raise ConfigError(
            f"{what}: {path}:{dup.line}: duplicate key '{dup.key}' (first at line {dup.first_line}); "
            "YAML would silently keep only the last one: remove or rename one of them"
        ) from None
    except yaml.constructor.ConstructorError as err:
        mark = err.problem_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        if "python/" in str(err.problem):
            tag = str(err.problem).split("tag", 1)[-1].strip(" '")
            raise ConfigError(
                f"{what}: {path}{line}: the tag '{tag}' is refused: config and architecture "
                "files hold plain values only (no Python objects)"
            ) from None
        raise ConfigError(f"{what}: {path}{line}: {err.problem}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{what}: {path}{line}: not valid YAML ({problem})") from None


def check_config_folder(folder: Path, what: str) -> None:
    """Every YAML file under a user's config folder (``--config-dir``/``--config-path``)."""
    if not folder.is_dir():
        raise ConfigError(f"{what}: {folder} is not a folder")
    for path in sorted(folder.rglob("*")):
        if path.suffix in YAML_SUFFIXES and path.is_file():
            load_yaml_strict(path, what)
