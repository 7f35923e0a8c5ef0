"""``build_dataset``: write a built-in dataset to HDF5 once, and reuse it while up to date.

The resolved parameters, the maker's version and the identity of any source files form a
fingerprint stored as a root attribute; a file whose fingerprint matches is returned as is.

A maker only ever writes over a file it made itself: every file it writes carries the
``soen_train_maker`` root attribute (maker name and params, JSON). Any other file at the
target path (the user's own data, a damaged or foreign file) is never replaced; asking a
maker to build there is a ``DataError`` that says how to use the file or where to build.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import h5py

from soen_train.data.errors import DataError
from soen_train.data.hdf5_writer import write_split_file
from soen_train.data.makers.catalog import DATASETS
from soen_train.data.makers.params import resolve_params

FINGERPRINT_ATTR = "maker_fingerprint"
#: Root attribute that marks a file as written by a soen_train dataset maker (JSON: maker, params).
OWNER_ATTR = "soen_train_maker"


def _owner_mark(path: Path) -> dict | None:
    """What the ownership mark of an existing file says ({"maker", "params"}), or None.

    Files written before the mark existed are recognised by their maker fingerprint."""
    with contextlib.suppress(Exception), h5py.File(path, "r", locking=False) as f:
        for key in (OWNER_ATTR, FINGERPRINT_ATTR):
            value = f.attrs.get(key)
            if value is None:
                continue
            mark = json.loads(value.decode() if isinstance(value, bytes) else value)
            if isinstance(mark, dict):
                return mark
    return None


def _refuse_foreign_file(out: Path, name: str) -> None:
    """Raise when ``out`` exists but was not written by a dataset maker (it is never replaced)."""
    if out.exists() and _owner_mark(out) is None:
        raise DataError(
            f"data.data_path={out} exists and was not written by a soen_train dataset maker "
            f"(no '{OWNER_ATTR}' mark), so data.dataset={name} will not overwrite it; to train "
            f"on this file set data.dataset=null, to build the {name} dataset give another "
            "data.data_path"
        )


def _stored_fingerprint(path: Path) -> dict | None:
    """The fingerprint stored in an existing file, or None if absent or unreadable."""
    if not path.is_file():
        return None
    with contextlib.suppress(Exception), h5py.File(path, "r", locking=False) as f:
        value = f.attrs.get(FINGERPRINT_ATTR)
        stored = json.loads(value.decode() if isinstance(value, bytes) else value)
        return stored if isinstance(stored, dict) else None
    return None


def dataset_output_path(name: str, data_path: str | None) -> Path:
    """Where built-in dataset ``name`` is written: ``data.data_path``, else ``data/<name>.h5``."""
    return Path(data_path or f"data/{name}.h5")


def fetch_dataset_sources(name: str, path: str | os.PathLike, **params: Any) -> None:
    """Check the params of built-in dataset ``name`` and fetch its source files if missing.

    Cheap when the HDF5 file or the sources are already there; the runner calls it before
    printing anything, so an offline machine gets its one error line first.
    """
    try:
        maker = DATASETS.get(name)
    except KeyError as exc:
        raise DataError(str(exc)) from exc
    out = Path(os.fspath(path)).expanduser()
    canonical = DATASETS.canonical(name)
    resolved = resolve_params(canonical, maker.params, params)
    if not _built_with(_stored_fingerprint(out), _core_fingerprint(canonical, maker.version, resolved)):
        maker.fetch(resolved, out)


def _core_fingerprint(canonical: str, version: int, resolved: dict[str, Any]) -> dict[str, Any]:
    # JSON round trip so the comparison with the stored copy sees the same types
    return json.loads(json.dumps({"maker": canonical, "version": version, "params": resolved}))


def _built_with(stored: dict | None, core: dict[str, Any]) -> bool:
    """Whether a file's stored fingerprint says it was built by this maker with these params."""
    return stored is not None and {k: stored.get(k) for k in core} == core


def build_dataset(name: str, path: str | os.PathLike, **params: Any) -> Path:
    """Write built-in dataset ``name`` (pulses, digits, mnist) to ``path``; return the path.

    Deterministic for the given params (each maker has a ``seed``). If ``path`` already holds
    this dataset with the same params and sources, nothing is rebuilt; a built file stays
    usable after its source files (MNIST) are removed. A file at ``path`` that no maker wrote
    is never replaced (DataError).
    """
    try:
        maker = DATASETS.get(name)
    except KeyError as exc:
        raise DataError(str(exc)) from exc
    out = Path(os.fspath(path)).expanduser()
    if out.is_dir():
        raise DataError(f"dataset output path {out} is a directory; give an .h5/.hdf5 file path")
    _refuse_foreign_file(out, name)
    canonical = DATASETS.canonical(name)
    resolved = resolve_params(canonical, maker.params, params)
    fingerprint = _core_fingerprint(canonical, maker.version, resolved)
    stored = _stored_fingerprint(out)
    built_before = _built_with(stored, fingerprint)
    if not built_before:
        maker.fetch(resolved, out)
    try:
        fingerprint["sources"] = json.loads(json.dumps(maker.sources(resolved, out)))
    except DataError:
        # Sources gone: a file built earlier with the same maker and params is still good.
        if built_before:
            return out
        raise
    if stored == fingerprint:
        return out
    made = maker.make(resolved, out)
    attrs = dict(made.attrs)
    attrs.update(
        {
            "maker": canonical,
            "maker_version": maker.version,
            "maker_params": json.dumps(resolved, sort_keys=True),
            FINGERPRINT_ATTR: json.dumps(fingerprint, sort_keys=True),
            OWNER_ATTR: json.dumps({"maker": canonical, "params": resolved}, sort_keys=True),
        }
    )
    return write_split_file(out, made.splits, attrs)
