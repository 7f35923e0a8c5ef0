"""Model files: our safe ``.soen`` format and import of the original toolkit's ``.soen``.

Our ``.soen`` is a safetensors file: every tensor of ``model.state_dict()`` (parameters,
masks, buffers) stored as raw arrays, plus string metadata ``format`` (``soen_train/1``),
``dtype`` and ``spec`` (the architecture as JSON). Loading parses JSON and copies arrays;
nothing in the file can run code. Reload is bit-exact.

The original toolkit's ``.soen`` is a pickle (``torch.save`` of a dict); it is imported by
``original_import`` through an allow-list unpickler, so a crafted file cannot execute code;
``is_original_file`` tells the two kinds apart by their first bytes.

This module knows the file format, not the model class: ``load_model`` is given the class
to build (``SOENModel.load`` passes itself), so ``network`` can import it without a cycle.
``soen_load.load_any_model`` reads either kind of file into a ``SOENModel``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .architecture import parse_architecture
from .file_errors import SoenFileError

if TYPE_CHECKING:
    from .network import SOENModel

__all__ = ["FORMAT", "SoenFileError", "is_original_file", "load_model", "save_model"]

FORMAT = "soen_train/1"
PathLike = str | Path
#: The model class ``load_model`` builds (``SOENModel`` or a subclass).
ModelT = TypeVar("ModelT", bound="SOENModel")


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


def load_model(path: PathLike, model_cls: type[ModelT]) -> ModelT:
    """Rebuild a model from a ``.soen`` written by ``save_model`` (bit-exact).

    Args:
        path: the ``.soen`` file.
        model_cls: the class to build (``SOENModel``), constructed from the stored spec
            without drawing weights, then given the stored tensors.

    Raises:
        SoenFileError: the file is not ours, or its spec and tensors do not match.
    """
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
    model = model_cls(architecture, seed=architecture.seed, materialize=False)
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


#: First bytes of the files the original toolkit writes: a torch zip, or a pre-1.6 pickle.
_ORIGINAL_SIGNATURES = (b"PK\x03\x04", b"\x80")


def is_original_file(path: PathLike) -> bool:
    """True when ``path`` starts like a file of the original toolkit (torch zip or pickle).

    Ours are safetensors files, which start with an 8-byte header length, never with these.
    """
    with Path(path).open("rb") as handle:
        head = handle.read(4)
    return head.startswith(_ORIGINAL_SIGNATURES)
