"""Model files: our safe ``.soen`` format and import of the original toolkit's ``.soen``.

Our ``.soen`` is a safetensors file: every tensor of ``model.state_dict()`` (parameters,
masks, buffers) stored as raw arrays, plus string metadata ``format`` (``soen_train/1``),
``dtype`` and ``spec`` (the architecture as JSON). Loading parses JSON and copies arrays;
nothing in the file can run code. Reload is bit-exact.

The original toolkit saved ``torch.save(dict)`` (a pickle): ``sim_config``,
``layers_config``, ``connections_config`` (plain dicts), ``state_dict``,
``connection_masks``, ``dt``, ``dt_learnable``. ``import_original_model`` reads it with
torch's weights-only unpickler, which only rebuilds plain containers, numbers, strings
and tensors and refuses any other global, so a crafted file cannot execute code.
"""

from __future__ import annotations

import json
import os
import pickle
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from soen_train.errors import SOENError

from .architecture import parse_architecture
from .network import SOENModel
from .spec_types import SimulationSpec
from .validation import ArchitectureError

FORMAT = "soen_train/1"
PathLike = str | Path


class SoenFileError(SOENError, ValueError):
    """A model file cannot be read (wrong format, unsafe content, or inconsistent)."""


def save_model(model: SOENModel, path: PathLike) -> Path:
    """Write ``model`` to ``path`` atomically; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {name: value.detach().cpu().contiguous() for name, value in model.state_dict().items()}
    dtypes = sorted({str(v.dtype) for v in tensors.values() if v.is_floating_point()})
    metadata = {
        "format": FORMAT,
        "spec": json.dumps(model.spec, allow_nan=False),
        "dtype": dtypes[0] if len(dtypes) == 1 else "torch.float32",
    }
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    os.replace(tmp, path)
    return path


def _read_safetensors(path: Path) -> tuple:
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118 - safetensors API
    except (SafetensorError, OSError, ValueError) as exc:
        raise SoenFileError(
            f"{path} is not a soen_train .soen file (safetensors) ({exc}); a .soen saved by the "
            "original toolkit is a pickle: use SOENModel.import_original(path)"
        ) from None
    return metadata, tensors


def load_model(path: PathLike) -> SOENModel:
    """Rebuild a model from a ``.soen`` written by ``save_model`` (bit-exact)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    metadata, tensors = _read_safetensors(path)
    if metadata.get("format") != FORMAT:
        raise SoenFileError(
            f"{path}: unknown format {metadata.get('format')!r}; expected {FORMAT!r} "
            "(original toolkit files load with SOENModel.import_original)"
        )
    try:
        spec = json.loads(metadata["spec"])
    except (KeyError, json.JSONDecodeError) as exc:
        raise SoenFileError(f"{path}: the architecture spec is missing or not valid JSON ({exc})") from None
    architecture = parse_architecture(spec, where=f"{path} (spec)")
    model = SOENModel(architecture, seed=architecture.seed, materialize=False)
    dtype_name = metadata.get("dtype", "torch.float32")
    dtype = getattr(torch, dtype_name.replace("torch.", ""), None)
    if isinstance(dtype, torch.dtype) and dtype != torch.float32:
        model = model.to(dtype)
    result = model.load_state_dict(tensors, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise SoenFileError(
            f"{path}: tensors do not match the spec (missing {result.missing_keys}, "
            f"unexpected {result.unexpected_keys})"
        )
    return model


# ----------------------------------------------------------------------------------------
# Original toolkit files
# ----------------------------------------------------------------------------------------


def _unpickle_restricted(path: Path) -> Any:
    """torch.load with the weights-only unpickler: containers, numbers, strings, tensors only."""
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SoenFileError(
            f"{path}: refused to load: the file contains objects other than plain containers and "
            f"tensors, so it could run code when unpickled ({first_line}). Only the original "
            "toolkit's dict of configs + state_dict is accepted."
        ) from None
    except (RuntimeError, EOFError, ValueError, OSError) as exc:
        raise SoenFileError(f"{path}: not a readable torch-saved .soen file ({exc})") from None


def _original_simulation(raw: Mapping[str, Any], path: Path) -> dict[str, Any]:
    known = set(SimulationSpec().__dict__) - {"track_power"}
    sim = {k: v for k, v in raw.items() if k in known}
    dropped = sorted(set(raw) - known)
    if raw.get("track_power"):
        warnings.warn(f"{path}: track_power is not available in soen_train; it is turned off",
                      stacklevel=3)
    dropped = [k for k in dropped if k != "track_power"]
    if dropped:
        warnings.warn(f"{path}: ignoring simulation settings soen_train does not have: {dropped}",
                      stacklevel=3)
    return sim


def _layer_param_tensor(state: Mapping[str, torch.Tensor], index: int, name: str,
                        layer_id: int, path: Path) -> torch.Tensor:
    direct = f"layers.{index}.{name}"
    logged = f"layers.{index}.log_{name}"
    if direct in state:
        return state[direct]
    if logged in state:
        return torch.exp(state[logged])
    available = sorted(k for k in state if k.startswith(f"layers.{index}."))
    raise SoenFileError(
        f"{path}: no value for parameter '{name}' of layer {layer_id} (looked for {direct} and "
        f"{logged}); this layer's tensors are {available}"
    )


def _connection_tensor(state: Mapping[str, torch.Tensor], index: dict[int, int], src: int, dst: int,
                       path: Path) -> torch.Tensor:
    key = f"connections.J_{src}_to_{dst}"
    if key in state:
        return state[key]
    if src == dst:
        prefix = f"layers.{index[src]}."
        internal: list[str] = [k for k in state if k.startswith(prefix) and "internal" in k
                               and k.endswith("weight")]
        if len(internal) == 1:
            return state[internal[0]]
    raise SoenFileError(f"{path}: no weights for connection {src}->{dst} (looked for {key})")


def import_original_model(path: PathLike) -> SOENModel:
    """Build a model from an original-toolkit ``.soen`` without executing anything in it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    data = _unpickle_restricted(path)
    required = ("layers_config", "state_dict")
    if not isinstance(data, Mapping) or any(k not in data for k in required):
        keys = sorted(data) if isinstance(data, Mapping) else type(data).__name__
        raise SoenFileError(f"{path}: expected the original .soen dict with {list(required)}, got {keys}")
    sim_raw = dict(data.get("sim_config") or {})
    if "dt" in data:
        sim_raw["dt"] = float(data["dt"])
    if "dt_learnable" in data:
        sim_raw["dt_learnable"] = bool(data["dt_learnable"])
    raw = {
        "simulation": _original_simulation(sim_raw, path),
        "layers": [dict(layer) for layer in data["layers_config"]],
        "connections": [dict(conn) for conn in data.get("connections_config") or []],
    }
    try:
        architecture = parse_architecture(raw, where=f"{path} (original configs)")
    except ArchitectureError as exc:
        raise SoenFileError(f"{path}: cannot translate the original architecture: {exc}") from None
    model = SOENModel(architecture, seed=None, materialize=False)
    state = data["state_dict"]
    masks = data.get("connection_masks") or {}
    index = {spec.layer_id: i for i, spec in enumerate(architecture.layers)}
    with torch.no_grad():
        for spec in architecture.layers:
            layer = model.layer(spec.layer_id)
            for name in layer.param_names():
                value = _layer_param_tensor(state, index[spec.layer_id], name, spec.layer_id, path)
                getattr(layer, name).copy_(value.reshape(layer.dim).to(torch.float32))
        for conn in model.connections.values():
            src, dst = conn.spec.from_layer, conn.spec.to_layer
            weight = _connection_tensor(state, index, src, dst, path).to(torch.float32)
            if tuple(weight.shape) != (conn.n_to, conn.n_from):
                raise SoenFileError(f"{path}: connection {src}->{dst} has shape {tuple(weight.shape)}, "
                                    f"expected ({conn.n_to}, {conn.n_from})")
            mask = masks.get(f"J_{src}_to_{dst}")
            mask = (weight != 0).to(torch.float32) if mask is None else mask.to(torch.float32)
            conn.mask.copy_(mask)
            conn.weight.copy_(weight * mask)
        if architecture.simulation.dt_learnable:
            model.dt_parameter.fill_(architecture.simulation.dt)
    model.refresh_fan_in()
    return model
