"""Import a model saved by the original SOEN toolkit (its torch-pickled ``.soen``/``.pth``).

The original's ``model.save(path)`` writes ``torch.save`` of one dict: ``sim_config``,
``layers_config``, ``connections_config`` (the architecture as plain dicts), ``state_dict``
(every tensor under the original's module names), ``connection_masks``, ``dt``,
``dt_learnable``, ``model_type`` and ``metadata``. Importing:

1. reads the file with the restricted unpickler of ``original_unpickler`` (nothing in the
   file can run code; a file naming any other global is refused with that name);
2. rebuilds the architecture from the three config lists through ``parse_architecture``
   (so the original's spellings and ignored keys are handled, and warned about, exactly as
   for an original YAML);
3. places every state_dict entry: legacy names are renamed first (``connections.internal_<id>``,
   ``layers.<i>.internal_J``, path tokens ``source_function``/``dynamics``/``solver``), the
   internal connection's three copies (``layers.<i>.connectivity.weight``,
   ``layers.<i>.internal_connectivity.weight``, ``connections.J_<id>_to_<id>``) must agree
   and become one connection, each layer's own entries go to its ``load_original_state``
   (which also de-duplicates RateArray tables and ``module.``/``core.`` copies), and the
   saved masks replace the rebuilt ones (dynamic-edge lists are rebuilt from them, unlike the
   original, which keeps its build-time edge list). An entry that cannot be placed, and a
   parameter that finds no value, is an error naming it: nothing is dropped silently.

``layers.<i>`` is the position of the layer in the list sorted by layer id, as in the original.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import torch

from soen_train.errors import OriginalImportError, SOENError

from .architecture import parse_architecture
from .original_unpickler import UnsafeFileError, read_torch_file
from .spec_types import ArchitectureSpec, SimulationSpec
from .validation import ArchitectureError

if TYPE_CHECKING:
    from .network import SOENModel

#: The model class ``import_original_model`` builds (``SOENModel`` or a subclass).
ModelT = TypeVar("ModelT", bound="SOENModel")

PathLike = str | Path

#: Top-level keys of the original's saved dict (anything else is reported).
FILE_KEYS = ("state_dict", "sim_config", "layers_config", "connections_config", "connection_masks",
             "dt", "dt_learnable", "model_type", "metadata")
REQUIRED_KEYS = ("layers_config", "state_dict")
#: Layer-local names that are a copy of the layer's internal connection.
INTERNAL_COPIES = ("connectivity.weight", "internal_connectivity.weight", "internal_J")
#: Old module path tokens and their current spelling.
LEGACY_TOKENS = {"source_function": "_source_function", "dynamics": "_dynamics", "solver": "_solver"}

_CONNECTION_KEY = re.compile(r"^connections\.J_(-?\d+)_to_(-?\d+)$")
_LEGACY_INTERNAL_KEY = re.compile(r"^connections\.internal_(-?\d+)$")
_LAYER_KEY = re.compile(r"^layers\.(\d+)\.(.+)$")
_MASK_KEY = re.compile(r"^J_(-?\d+)_to_(-?\d+)$")


# ----------------------------------------------------------------------------------------
# Reading the file
# ----------------------------------------------------------------------------------------


def _holds_tensor(value: Any) -> bool:
    if isinstance(value, torch.Tensor):
        return True
    if isinstance(value, Mapping):
        return any(_holds_tensor(v) for v in value.values())
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(_holds_tensor(v) for v in value)
    return False


def read_original_file(path: PathLike) -> dict[str, Any]:
    """The original's saved dict, read without executing code, with its layout checked."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    try:
        data = read_torch_file(path)
    except UnsafeFileError as exc:
        raise OriginalImportError(str(exc)) from None
    if not isinstance(data, Mapping) or any(k not in data for k in REQUIRED_KEYS):
        found = sorted(map(str, data)) if isinstance(data, Mapping) else type(data).__name__
        raise OriginalImportError(
            f"{path}: not an original-toolkit model file: expected a dict with {list(REQUIRED_KEYS)} "
            f"(as written by the original's model.save), found {found}"
        )
    unknown = sorted(str(k) for k in data if k not in FILE_KEYS)
    with_tensors = [k for k in unknown if _holds_tensor(data[k])]
    if with_tensors:
        raise OriginalImportError(
            f"{path}: top-level entries {with_tensors} hold tensors that have no place in a model; "
            f"known entries are {list(FILE_KEYS)}"
        )
    if unknown:
        warnings.warn(f"{path}: ignoring top-level entries {unknown} (not model content)", UserWarning,
                      stacklevel=3)
    state = data["state_dict"]
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise OriginalImportError(f"{path}: state_dict must map names to tensors")
    masks = data.get("connection_masks") or {}
    if not isinstance(masks, Mapping) or not all(isinstance(v, torch.Tensor) for v in masks.values()):
        raise OriginalImportError(f"{path}: connection_masks must map 'J_<from>_to_<to>' to tensors")
    return dict(data)


def _simulation_block(data: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The original's sim_config, with the file's own dt / dt_learnable, in our vocabulary."""
    raw = dict(data.get("sim_config") or {})
    if "dt" in data:
        raw["dt"] = float(data["dt"])
    if "dt_learnable" in data:
        raw["dt_learnable"] = bool(data["dt_learnable"])
    known = {name for name in SimulationSpec().__dict__}
    if raw.get("track_power"):
        warnings.warn(f"{where}: track_power is not available in soen_train; it is turned off",
                      UserWarning, stacklevel=4)
    raw.pop("track_power", None)
    dropped = sorted(k for k in raw if k not in known)
    if dropped:
        warnings.warn(f"{where}: ignoring simulation settings soen_train does not have: {dropped}",
                      UserWarning, stacklevel=4)
    return {k: v for k, v in raw.items() if k in known}


def original_architecture(data: Mapping[str, Any], where: str) -> ArchitectureSpec:
    """The architecture of an original file, through the same parser as an original YAML."""
    raw = {
        "simulation": _simulation_block(data, where),
        "layers": [dict(layer) for layer in data["layers_config"]],
        "connections": [dict(conn) for conn in data.get("connections_config") or []],
    }
    try:
        return parse_architecture(raw, where=f"{where} (original configs)")
    except ArchitectureError as exc:
        raise OriginalImportError(f"{where}: cannot rebuild the saved architecture: {exc}") from None


# ----------------------------------------------------------------------------------------
# Placing the tensors
# ----------------------------------------------------------------------------------------


def _canonical_name(name: str) -> str:
    """Current spelling of a state_dict key (legacy names of older toolkit versions renamed)."""
    legacy = _LEGACY_INTERNAL_KEY.match(name)
    if legacy:
        return f"connections.J_{legacy.group(1)}_to_{legacy.group(1)}"
    return ".".join(LEGACY_TOKENS.get(token, token) for token in name.split("."))


def _canonical_state(state: Mapping[str, torch.Tensor], where: str) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    origin: dict[str, str] = {}
    for name, value in state.items():
        key = _canonical_name(str(name))
        if key in out:
            if out[key].shape != value.shape or not torch.equal(out[key], value):
                raise OriginalImportError(
                    f"{where}: state_dict entries '{origin[key]}' and '{name}' are the same tensor "
                    "under an old and a new name but hold different values; keep one"
                )
            continue
        out[key], origin[key] = value, str(name)
    return out


def _same(copies: dict[str, torch.Tensor], what: str, where: str) -> torch.Tensor:
    """The one value of several saved copies of a tensor (they must agree exactly)."""
    names = list(copies)
    first = copies[names[0]]
    for name in names[1:]:
        if copies[name].shape != first.shape or not torch.equal(copies[name], first):
            diff = ((copies[name].double() - first.double()).abs().max().item()
                    if copies[name].shape == first.shape else "shape")
            raise OriginalImportError(
                f"{where}: {what} is saved as {names}, but '{names[0]}' and '{name}' differ "
                f"(max |difference| {diff}); the file is inconsistent"
            )
    return first


def _copy(target: torch.Tensor, value: torch.Tensor, name: str, where: str) -> None:
    if tuple(value.shape) != tuple(target.shape):
        raise OriginalImportError(
            f"{where}: '{name}' has shape {tuple(value.shape)}, the model expects {tuple(target.shape)}"
        )
    target.copy_(value.to(device=target.device, dtype=target.dtype))


@torch.no_grad()
def load_original_state(model: SOENModel, state: Mapping[str, torch.Tensor],
                        masks: Mapping[str, torch.Tensor] | None = None,
                        where: str = "original state_dict") -> None:
    """Copy an original-toolkit state_dict (and its connection masks) into ``model`` in place.

    ``model`` must have the architecture the state was saved with. Every entry is placed
    or the call fails naming it; every parameter of ``model`` must receive a value.

    Args:
        model: the model to fill, built from the saved architecture.
        state: the original's state_dict (legacy names accepted).
        masks: the original's ``connection_masks`` (they replace the rebuilt ones).
        where: the file, for messages.
    """
    state = _canonical_state(state, where)
    masks = dict(masks or {})
    ids = model.layer_ids
    placed: set[str] = set()

    per_layer: dict[int, dict[str, torch.Tensor]] = {i: {} for i in range(len(ids))}
    weights: dict[tuple[int, int], dict[str, torch.Tensor]] = {}
    for name, value in state.items():
        layer_key = _LAYER_KEY.match(name)
        conn_key = _CONNECTION_KEY.match(name)
        if layer_key and int(layer_key.group(1)) < len(ids):
            index, local = int(layer_key.group(1)), layer_key.group(2)
            if local in INTERNAL_COPIES:
                lid = ids[index]
                weights.setdefault((lid, lid), {})[name] = value
            else:
                per_layer[index][local] = value
        elif conn_key:
            weights.setdefault((int(conn_key.group(1)), int(conn_key.group(2))), {})[name] = value
        elif name == "dt":
            if model.architecture.simulation.dt_learnable:
                model.dt_parameter.copy_(value.reshape(()).to(model.dt_parameter.dtype))
            elif abs(float(value) - model.dt) > 1e-6 * max(1.0, abs(model.dt)):
                raise OriginalImportError(
                    f"{where}: 'dt' = {float(value)} but the saved simulation dt is {model.dt} "
                    "and dt is not learnable"
                )
            placed.add(name)

    # Connections (and the internal copies held by layers).
    for (src, dst), copies in weights.items():
        name = f"{src}_to_{dst}"
        if name not in model.connections:
            raise OriginalImportError(
                f"{where}: {sorted(copies)} hold weights of a connection {src}->{dst} that the saved "
                f"architecture does not have (its connections: {sorted(model.connections)})"
            )
        conn = model.connections[name]
        weight = _same(copies, f"connection {src}->{dst}", where)
        mask = masks.pop(f"J_{src}_to_{dst}", None)
        if mask is not None:
            # In place: a dynamic connection rebuilds its edge list from the mask it now holds.
            _copy(conn.mask, mask, f"connection_masks['J_{src}_to_{dst}']", where)
        _copy(conn.weight, weight * conn.mask.to(weight.dtype), sorted(copies)[0], where)
        placed.update(copies)
    missing = sorted(n for n in model.connections if tuple(map(int, n.split("_to_"))) not in weights)
    if missing:
        raise OriginalImportError(
            f"{where}: no weights for connection(s) {missing} (looked for connections.J_<from>_to_<to>)"
        )
    leftover_masks = sorted(masks)
    if leftover_masks:
        raise OriginalImportError(
            f"{where}: connection_masks {leftover_masks} belong to no connection of the saved architecture "
            f"(its connections: {sorted('J_' + n for n in model.connections)})"
        )

    # Layers: each layer type places its own entries.
    for index, lid in enumerate(ids):
        entries = per_layer[index]
        layer = model.layer(lid)
        label = f"{where} (state_dict prefix layers.{index}.)"
        try:
            consumed = set(layer.load_original_state(entries))
        except SOENError as exc:
            raise OriginalImportError(f"{label}: {exc}") from None
        rest = sorted(set(entries) - consumed)
        if rest:
            raise OriginalImportError(
                f"{label}: cannot place {[f'layers.{index}.{k}' for k in rest]}; "
                f"layer {lid} ({layer.layer_type}) has no such tensor"
            )
        placed.update(f"layers.{index}.{k}" for k in entries)

    unplaced = sorted(set(state) - placed)
    if unplaced:
        raise OriginalImportError(
            f"{where}: cannot place state_dict entries {unplaced}: they belong to no layer "
            f"(layers.0 .. layers.{len(ids) - 1}) or connection of the saved architecture"
        )


def import_original_model(path: PathLike, model_cls: type[ModelT]) -> ModelT:
    """Build a model from an original-toolkit ``.soen`` file (never executes its code).

    Args:
        path: the original's ``.soen``/``.pth`` file.
        model_cls: the class to build (``SOENModel``; ``SOENModel.import_original`` passes
            itself), constructed from the file's architecture, then given its state.
    """
    path = Path(path)
    data = read_original_file(path)
    architecture = original_architecture(data, str(path))
    # Build as the original does (patterns and initialisers run), from a private RNG so that
    # importing is deterministic and leaves the caller's random state alone; every value that
    # matters is then overwritten from the file.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = model_cls(architecture, seed=None)
    load_original_state(model, data["state_dict"], data.get("connection_masks"), where=str(path))
    return model

