"""JAX training checkpoints in a safe format: one ``.jax.npz`` archive, no pickle.

Layout of ``<name>.jax.npz`` (read with ``np.load(..., allow_pickle=False)``):

- ``param/<name>``: every model parameter, keyed like ``SOENModel.parameters_by_name()``;
- ``opt/<index>``: the optax optimiser-state leaves in ``jax.tree_util`` flatten order;
- ``meta``: UTF-8 JSON (as uint8 bytes) with the format tag and version, the architecture
  spec, the trainable parameter names, the optimiser-state structure, ``epoch`` (epochs
  completed), ``global_step`` and the trainer's resumable state (LR schedule, early
  stopping, best checkpoints, metric history, pooling scale).

Every checkpoint the trainer writes gets a ``<name>.soen`` beside it (the same weights in
the torch model format), so ``soen-train-jax verify`` can compare the two.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Union

import numpy as np

from .errors import JaxCheckpointError

PathLike = Union[str, Path]

#: File-name ending of a JAX checkpoint.
SUFFIX = ".jax.npz"
FORMAT = "soen_train.jax.checkpoint"
VERSION = 1
PARAM_PREFIX = "param/"
OPT_PREFIX = "opt/"
META_KEY = "meta"


@dataclass
class JaxCheckpoint:
    """Everything needed to resume a JAX run, or to rebuild its torch model."""

    params: Dict[str, np.ndarray]
    spec: Dict[str, Any]
    trainable: List[str]
    epoch: int = 0
    global_step: int = 0
    opt_leaves: List[np.ndarray] = field(default_factory=list)
    opt_structure: str = ""
    trainer_state: Dict[str, Any] = field(default_factory=dict)


def is_jax_checkpoint(path: PathLike) -> bool:
    """True when ``path`` is named like a JAX checkpoint (``*.jax.npz``)."""
    return str(path).endswith(SUFFIX)


def soen_path_for(path: PathLike) -> Path:
    """The ``.soen`` written beside a checkpoint: ``<stem>.soen`` for ``<stem>.jax.npz``."""
    text = str(path)
    stem = text[: -len(SUFFIX)] if text.endswith(SUFFIX) else str(Path(text).with_suffix(""))
    return Path(stem + ".soen")


def atomic_write(path: Path, write: Any) -> None:
    """Write through ``write(file)`` into a temporary file, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as handle:
            write(handle)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _plain(value: Any) -> Any:
    """JSON-safe copy (numpy scalars -> Python numbers, inf/nan kept as floats)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def save_checkpoint(path: PathLike, ckpt: JaxCheckpoint) -> Path:
    """Write ``ckpt`` to ``path`` (must end in ``.jax.npz``) atomically; returns the path."""
    path = Path(path)
    if not is_jax_checkpoint(path):
        raise JaxCheckpointError(f"JAX checkpoint names end in '{SUFFIX}', got {path}")
    arrays: Dict[str, np.ndarray] = {}
    for name, value in ckpt.params.items():
        arrays[PARAM_PREFIX + name] = np.asarray(value)
    for index, leaf in enumerate(ckpt.opt_leaves):
        arrays[f"{OPT_PREFIX}{index:05d}"] = np.asarray(leaf)
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "spec": ckpt.spec,
        "trainable": sorted(ckpt.trainable),
        "epoch": int(ckpt.epoch),
        "global_step": int(ckpt.global_step),
        "opt_structure": ckpt.opt_structure,
        "opt_count": len(ckpt.opt_leaves),
        "trainer_state": ckpt.trainer_state,
    }
    arrays[META_KEY] = np.frombuffer(json.dumps(_plain(meta)).encode("utf-8"), dtype=np.uint8)
    atomic_write(path, lambda handle: np.savez(handle, **arrays))
    return path


def load_checkpoint(path: PathLike) -> JaxCheckpoint:
    """Read a ``.jax.npz`` checkpoint without unpickling anything; clear errors when broken."""
    path = Path(path)
    if not path.is_file():
        raise JaxCheckpointError(f"JAX checkpoint not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            files = list(data.files)
            if META_KEY not in files:
                raise JaxCheckpointError(
                    f"{path}: no '{META_KEY}' entry; not a soen_train JAX checkpoint"
                )
            meta = json.loads(bytes(data[META_KEY]).decode("utf-8"))
            params = {
                k[len(PARAM_PREFIX) :]: np.array(data[k])
                for k in files
                if k.startswith(PARAM_PREFIX)
            }
            opt_keys = sorted(k for k in files if k.startswith(OPT_PREFIX))
            opt_leaves = [np.array(data[k]) for k in opt_keys]
    except JaxCheckpointError:
        raise
    except (OSError, ValueError, json.JSONDecodeError) as err:
        raise JaxCheckpointError(f"{path}: cannot read as a JAX checkpoint ({err})") from None
    if meta.get("format") != FORMAT:
        raise JaxCheckpointError(f"{path}: format tag {meta.get('format')!r}, expected {FORMAT!r}")
    if int(meta.get("version", -1)) > VERSION:
        raise JaxCheckpointError(
            f"{path}: written by a newer soen_train (checkpoint version {meta.get('version')}, "
            f"this one reads up to {VERSION})"
        )
    if len(opt_leaves) != int(meta.get("opt_count", 0)):
        raise JaxCheckpointError(
            f"{path}: holds {len(opt_leaves)} optimiser-state arrays, its metadata says "
            f"{meta.get('opt_count')}"
        )
    return JaxCheckpoint(
        params=params,
        spec=meta["spec"],
        trainable=list(meta.get("trainable", [])),
        epoch=int(meta.get("epoch", 0)),
        global_step=int(meta.get("global_step", 0)),
        opt_leaves=opt_leaves,
        opt_structure=str(meta.get("opt_structure", "")),
        trainer_state=dict(meta.get("trainer_state") or {}),
    )
