"""Reads a ``.soen`` model file's header (no tensors, no torch) and checks it against its spec.

A ``.soen`` is a safetensors file: an 8-byte header length, a JSON header listing every
tensor's dtype, shape and byte range, and string metadata holding the architecture ``spec``.
Building the model from the spec allocates every weight matrix first, so a spec that says
``dim: 15000`` beside 20x20 tensors would allocate gigabytes before failing; here the spec's
layer widths are compared with the stored tensor shapes before anything is allocated.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Any, Dict, List

from soen_train.config.errors import ConfigError

FORMAT = "soen_train/1"  # the format tag soen_train.model.soen_file writes
MAX_HEADER_BYTES = 100 * 2**20
_CONNECTION = re.compile(r"^connections\.(\w+?)_to_(\w+?)\.(weight|mask)$")
_LAYER = re.compile(r"^layers\.(\d+)\.(\w+)$")


def read_soen_header(path: Path, key: str) -> tuple:
    """(tensor table, metadata) of a safetensors ``.soen``; a ConfigError if it is not one."""
    size = path.stat().st_size
    not_ours = (
        f"{key}: {path} is not a soen_train .soen file (safetensors); a .soen saved by the "
        "original toolkit is a pickle: convert it with SOENModel.import_original(path).save(new_path)"
    )
    with path.open("rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            raise ConfigError(f"{key}: {path} is empty or truncated ({size} bytes)")
        (length,) = struct.unpack("<Q", head)
        if length > min(MAX_HEADER_BYTES, size - 8):
            raise ConfigError(not_ours)
        raw = handle.read(length)
    try:
        table = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ConfigError(not_ours) from None
    if not isinstance(table, dict):
        raise ConfigError(not_ours)
    metadata = table.pop("__metadata__", None) or {}
    data_bytes = size - 8 - length
    for name, entry in table.items():
        end = (entry.get("data_offsets") or [0, 0])[1] if isinstance(entry, dict) else 0
        if end > data_bytes:
            raise ConfigError(
                f"{key}: {path} is truncated: tensor '{name}' ends at byte {end} of the data but "
                f"the file holds {data_bytes}; copy the file again"
            )
    return table, metadata


def _dim(layer: Any) -> Any:
    params = layer.get("params") if isinstance(layer, dict) else None
    if isinstance(params, dict) and "dim" in params:
        return params["dim"]
    return layer.get("dim") if isinstance(layer, dict) else None


def check_soen_file(path_text: str, key: str) -> None:
    """A ConfigError naming ``key`` when the file is missing, damaged, or its spec's layer widths
    disagree with its tensors (checked before any tensor is allocated)."""
    path = Path(path_text)
    if not path.is_file():
        raise ConfigError(f"{key}: file not found: {path}")
    table, metadata = read_soen_header(path, key)
    if metadata.get("format") != FORMAT:
        raise ConfigError(
            f"{key}: {path}: unknown format {metadata.get('format')!r}; expected {FORMAT!r}"
        )
    try:
        spec = json.loads(metadata["spec"])
        layers: List[Any] = list(spec["layers"])
    except (KeyError, TypeError, json.JSONDecodeError):
        raise ConfigError(f"{key}: {path}: the architecture spec is missing or not valid JSON") from None
    by_id: Dict[str, Any] = {}
    for position, layer in enumerate(layers):
        dim = _dim(layer)
        lid = layer.get("layer_id", position) if isinstance(layer, dict) else position
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ConfigError(f"{key}: {path}: spec layer {lid} has dim={dim!r}; a width must be an integer >= 1")
        by_id[str(lid)] = dim
    for name, entry in table.items():
        shape = list(entry.get("shape", [])) if isinstance(entry, dict) else []
        conn = _CONNECTION.match(name)
        if conn and conn.group(1) in by_id and conn.group(2) in by_id:
            want = [by_id[conn.group(2)], by_id[conn.group(1)]]
            if shape != want:
                raise ConfigError(
                    f"{key}: {path}: the spec makes '{name}' {want} (layer {conn.group(2)} x layer "
                    f"{conn.group(1)} widths) but the file stores {shape}: the spec and the tensors "
                    "disagree (a hand-edited or damaged file)"
                )
            continue
        lay = _LAYER.match(name)
        if lay and int(lay.group(1)) < len(layers) and len(shape) == 1:
            layer = layers[int(lay.group(1))]
            params = layer.get("params", {}) if isinstance(layer, dict) else {}
            dim = _dim(layer)
            if lay.group(2) in params and shape[0] not in (1, dim):
                raise ConfigError(
                    f"{key}: {path}: spec layer {layer.get('layer_id')} has dim={dim} but the file "
                    f"stores '{name}' with {shape[0]} entries: the spec and the tensors disagree"
                )
