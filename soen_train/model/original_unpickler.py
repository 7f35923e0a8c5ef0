"""Read a ``torch.save`` zip file without executing anything it contains.

The original toolkit writes its ``.soen`` with ``torch.save`` (a zip holding ``data.pkl``
and one raw little-endian blob per tensor storage under ``data/<key>``). A pickle can name
any importable callable, so unpickling an untrusted file normally means running code. Here
the pickle is read by an unpickler whose ``find_class`` knows only an allow-list of names
and maps each to a function of this module (tensor rebuilding is done by our own code from
the raw bytes, never by calling into ``torch._utils``). Any other global is refused with its
name. Files in torch's pre-1.6 (non-zip) format are read with ``torch.load(weights_only=True)``,
torch's own allow-listed loader.
"""

from __future__ import annotations

import codecs
import io
import pickle
import sys
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from soen_train.errors import UnsafeFileError


class _StorageType:
    """Stand-in for ``torch.<X>Storage`` classes: only remembers the element dtype."""

    def __init__(self, name: str, dtype: torch.dtype) -> None:
        self.name = name
        self.dtype = dtype


#: torch storage class names a file may reference, with their element types.
STORAGE_TYPES: dict[str, torch.dtype] = {
    "FloatStorage": torch.float32,
    "DoubleStorage": torch.float64,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}


def _rebuild_tensor(storage: torch.Tensor, storage_offset: int, size: tuple, stride: tuple,
                    requires_grad: bool = False, backward_hooks: Any = None,
                    metadata: Any = None) -> torch.Tensor:
    """A tensor viewing ``storage`` (a flat tensor we built from the file's bytes), copied out."""
    if not isinstance(storage, torch.Tensor):
        raise UnsafeFileError(f"tensor record refers to {type(storage).__name__}, not a storage")
    size, stride = tuple(int(v) for v in size), tuple(int(v) for v in stride)
    if storage.numel() == 0 or any(v == 0 for v in size):
        return torch.empty(size, dtype=storage.dtype)
    last = int(storage_offset) + sum((n - 1) * s for n, s in zip(size, stride))
    if int(storage_offset) < 0 or any(s < 0 for s in stride) or last >= storage.numel():
        raise UnsafeFileError(
            f"tensor record of shape {size} reaches outside its storage of {storage.numel()} elements"
        )
    return storage.as_strided(size, stride, int(storage_offset)).clone()


def _rebuild_parameter(data: torch.Tensor, requires_grad: bool = False,
                       backward_hooks: Any = None) -> torch.Tensor:
    """A saved ``nn.Parameter`` comes back as its plain tensor value."""
    return data


def _encode(text: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode``, which protocol-2 pickles use to store ``bytes`` objects."""
    if not isinstance(text, str):
        raise UnsafeFileError("a bytes record in the pickle does not hold text")
    return codecs.encode(text, encoding)


def _size(values: Any = ()) -> tuple:
    return tuple(values)


#: (module, name) -> what the unpickler hands back for that global.
ALLOWED_GLOBALS: dict[tuple[str, str], Callable[..., Any] | type | _StorageType] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch", "Size"): _size,
    ("_codecs", "encode"): _encode,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("__builtin__", "set"): set,
    ("__builtin__", "frozenset"): frozenset,
    **{("torch", name): _StorageType(name, dtype) for name, dtype in STORAGE_TYPES.items()},
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler over one torch zip archive: allow-listed globals, storages from the zip."""

    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str, swap_bytes: bool,
                 where: str) -> None:
        super().__init__(io.BytesIO(data))
        self._archive = archive
        self._prefix = prefix
        self._swap = swap_bytes
        self._where = where
        self._storages: dict[str, torch.Tensor] = {}

    def find_class(self, module: str, name: str) -> Any:
        target = ALLOWED_GLOBALS.get((module, name))
        if target is None:
            raise UnsafeFileError(
                f"{self._where}: refused to load: the file references {module}.{name}, which is not "
                "a container or tensor type, so unpickling it could run code. Only the original "
                "toolkit's dict of configs, tensors and masks is accepted."
            )
        return target

    def persistent_load(self, pid: Any) -> torch.Tensor:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise UnsafeFileError(f"{self._where}: unknown persistent record {str(pid)[:80]!r}")
        _, storage_type, key, _location, numel = pid
        if not isinstance(storage_type, _StorageType):
            raise UnsafeFileError(f"{self._where}: storage record names {storage_type!r}, not a storage type")
        key = str(key)
        if key not in self._storages:
            self._storages[key] = self._read_storage(key, storage_type, int(numel))
        return self._storages[key]

    def _read_storage(self, key: str, storage_type: _StorageType, numel: int) -> torch.Tensor:
        entry = f"{self._prefix}data/{key}"
        try:
            raw = self._archive.read(entry)
        except KeyError:
            raise UnsafeFileError(f"{self._where}: storage {entry} is missing from the archive") from None
        itemsize = torch.empty(0, dtype=storage_type.dtype).element_size()
        if len(raw) != numel * itemsize:
            raise UnsafeFileError(
                f"{self._where}: storage {entry} holds {len(raw)} bytes, expected {numel} x {itemsize} "
                f"({storage_type.name})"
            )
        if numel == 0:
            return torch.empty(0, dtype=storage_type.dtype)
        flat = torch.frombuffer(bytearray(raw), dtype=torch.uint8)
        if self._swap and itemsize > 1:
            flat = flat.view(-1, itemsize).flip(1).reshape(-1)
        return flat.view(storage_type.dtype).clone()


def _archive_prefix(archive: zipfile.ZipFile, where: str) -> str:
    """The folder holding ``data.pkl`` inside a torch zip (``archive/`` or the saved file's stem)."""
    pickles = [n for n in archive.namelist() if n.endswith("data.pkl") and n.count("/") == 1]
    if len(pickles) != 1:
        raise UnsafeFileError(f"{where}: not a torch-saved file (found {len(pickles)} data.pkl entries)")
    return pickles[0][: -len("data.pkl")]


def read_torch_file(path: str | Path) -> Any:
    """The object stored in a ``torch.save`` file, without executing anything from it.

    Raises ``UnsafeFileError`` naming the first global outside the allow-list (tensors,
    storages, OrderedDict, sets, bytes) and for malformed archives.
    """
    path = Path(path)
    where = str(path)
    if not zipfile.is_zipfile(path):
        return _read_legacy(path)
    with zipfile.ZipFile(path) as archive:
        prefix = _archive_prefix(archive, where)
        order = "little"
        if f"{prefix}byteorder" in archive.namelist():
            order = archive.read(f"{prefix}byteorder").decode("ascii", "replace").strip()
        if order not in ("little", "big"):
            raise UnsafeFileError(f"{where}: unknown byte order {order!r} in the archive")
        unpickler = _RestrictedUnpickler(archive.read(f"{prefix}data.pkl"), archive, prefix,
                                         swap_bytes=order != sys.byteorder, where=where)
        try:
            return unpickler.load()
        except UnsafeFileError:
            raise
        except (pickle.UnpicklingError, EOFError, TypeError, ValueError, AttributeError,
                IndexError, RuntimeError) as exc:
            raise UnsafeFileError(f"{where}: the pickle inside the archive is malformed ({exc})") from None


def _read_legacy(path: Path) -> Any:
    """Pre-zip torch files: torch's weights-only loader (an allow-list unpickler as well)."""
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UnsafeFileError(
            f"{path}: refused to load: the file holds objects other than containers and tensors, "
            f"so unpickling it could run code ({first})"
        ) from None
    except (RuntimeError, EOFError, ValueError, OSError) as exc:
        raise UnsafeFileError(f"{path}: not a readable torch-saved file ({exc})") from None
