"""One error taxonomy: every exception class of soen_train is defined in soen_train/errors.py,
and every class there except the listed internal outcomes is a user error (``SOENError``)."""

from __future__ import annotations

import ast
import builtins
import inspect
from pathlib import Path

import soen_train
from soen_train import errors

PACKAGE = Path(soen_train.__file__).resolve().parent
ERRORS_FILE = PACKAGE / "errors.py"
BUILTIN_EXCEPTIONS = {n for n, v in vars(builtins).items()
                      if isinstance(v, type) and issubclass(v, BaseException)}
#: not user errors: outcomes passed between parts of the program
INTERNAL = {"SlurmJobEnded", "CatalogMismatchError"}


def _base_name(node: ast.expr) -> str:
    return node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")


def _exception_classes(path: Path, known: set[str]) -> list[str]:
    """Public classes in ``path`` deriving from a built-in exception or a known error class."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            bases = {_base_name(b) for b in node.bases}
            is_warning = any(b.endswith("Warning") for b in bases)
            if not is_warning and bases & (BUILTIN_EXCEPTIONS | known):
                found.append(node.name)
    return found


def test_every_error_class_is_defined_in_errors_py():
    known: set[str] = set()
    while True:  # subclasses of subclasses, to a fixed point
        grown = known | set(_exception_classes(ERRORS_FILE, known))
        if grown == known:
            break
        known = grown
    elsewhere = [
        f"{path.relative_to(PACKAGE.parent)}: {name}"
        for path in sorted(PACKAGE.rglob("*.py")) if path != ERRORS_FILE
        for name in _exception_classes(path, known)
    ]
    assert not elsewhere, "error classes outside soen_train/errors.py: " + ", ".join(elsewhere)


def test_errors_py_holds_one_documented_hierarchy_of_user_errors():
    classes = {n: c for n, c in vars(errors).items()
               if inspect.isclass(c) and issubclass(c, BaseException) and c.__module__ == errors.__name__}
    assert set(classes) == set(_exception_classes(ERRORS_FILE, set(classes))) and len(classes) > 20
    for name, cls in classes.items():
        assert cls.__doc__, name
        assert name in errors.__doc__, f"{name} is missing from the hierarchy in the module docstring"
        assert issubclass(cls, errors.SOENError) != (name in INTERNAL), name


def test_old_import_paths_name_the_same_classes():
    from soen_train.config.errors import ConfigError
    from soen_train.data.errors import DataError
    from soen_train.jax.errors import JaxCheckpointError, JaxUnsupportedError
    from soen_train.model.file_errors import SoenFileError
    from soen_train.model.validation import ArchitectureError
    from soen_train.registry import UnknownNameError, UnknownParameterError
    from soen_train.sweeps.search_space import SearchSpaceError
    from soen_train.sweeps.storage import StorageConfigError
    from soen_train.sweeps.trial_context import TrialContextError

    for cls in (ConfigError, DataError, JaxCheckpointError, JaxUnsupportedError, SoenFileError,
                ArchitectureError, UnknownNameError, UnknownParameterError, SearchSpaceError,
                StorageConfigError, TrialContextError):
        assert getattr(errors, cls.__name__) is cls


def test_built_in_bases_are_kept():
    assert issubclass(errors.ConfigError, ValueError)
    assert issubclass(errors.SearchSpaceError, ValueError)
    assert issubclass(errors.UnknownNameError, KeyError) and issubclass(errors.UnknownNameError, ValueError)
    assert issubclass(errors.ParameterTypeError, TypeError)
    assert issubclass(errors.NonFiniteLossError, FloatingPointError)
    assert issubclass(errors.TrackingAuthError, PermissionError)
    assert issubclass(errors.TrialContextError, RuntimeError)
    assert str(errors.UnknownNameError("unknown loss 'x'")) == "unknown loss 'x'"
