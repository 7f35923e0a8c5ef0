"""Reads the original SOEN toolkit's JAX checkpoints (``.pkl``) without running anything in them.

The original's JAX trainer wrote ``pickle.dump(dict, protocol=4)`` files (``last.pkl``,
top-k, ``initial.pkl``) with ``params`` (``layer_params`` one array per layer in layer order,
``connection_params`` one zero-padded ``[n_connections, D_max, F_max]`` array,
``internal_connections`` ``{layer_id: [D, D]}``), ``opt_state`` (optax/equinox objects),
``epoch``, ``global_step``, ``val_loss``, ``checkpoint_version`` and, since 1.0.0, the model
structure ``jax_model`` (plain lists/dicts) and ``topology``. Older files hold ``params`` only.

``OriginalPickleReader`` is a restricted unpickler:

- NumPy arrays, dtypes and scalars and plain containers are rebuilt (an allowlist of the
  few reconstruction functions they need);
- classes of optax, equinox, jax, chex and soen_toolkit (the optimiser state) become inert
  ``PickleStub`` records of their constructor arguments and state: the real class is never
  imported and nothing of it is called;
- any other global (``os.system``, ``builtins.eval``, ``subprocess.Popen`` ...) is refused by
  name before anything runs.

``migrate_pickle`` turns such a file into our ``.jax.npz`` + ``.soen`` pair; the optimiser
state is not carried over (its optax layout is the original's, not ours).
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from soen_train.errors import UnsafePickleError

from .checkpoint import SUFFIX, JaxCheckpoint, save_checkpoint
from .errors import JaxCheckpointError, JaxUnsupportedError
from .original_pickle_layout import (
    KNOWN_KINDS,
    architecture_from_jax_model,
    as_float_array,
    layer_tensors,
)
from .spec_support import check_architecture

PathLike = Union[str, Path]

#: Globals rebuilt for real: NumPy array/dtype/scalar reconstruction and plain containers.
ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("collections", "OrderedDict"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "tuple"),
    ("builtins", "list"),
    ("builtins", "dict"),
    ("builtins", "complex"),
    ("builtins", "bytearray"),
}

#: NumPy dtype classes (``numpy.dtypes.Float32DType`` ...) pickled by newer NumPy versions.
NUMPY_DTYPE_MODULES = ("numpy.dtypes",)

#: Packages whose classes appear in the optimiser state; they become inert stubs.
STUB_PACKAGES = ("optax", "equinox", "jax", "jaxlib", "chex", "soen_toolkit")


class PickleStub:
    """Stand-in for a class of the optimiser state: records what the pickle passes to it."""

    module = ""
    name = ""

    def __new__(cls, *args: Any, **kwargs: Any) -> "PickleStub":
        obj = super().__new__(cls)
        obj.args = args
        obj.kwargs = kwargs
        obj.state = None
        obj.items = []
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args or kwargs:
            self.args, self.kwargs = args, kwargs

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def append(self, item: Any) -> None:
        self.items.append(item)

    def extend(self, items: Any) -> None:
        self.items.extend(items)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.items.append((key, value))

    def __repr__(self) -> str:
        return f"<stub {self.module}.{self.name} args={len(self.args)}>"


def _stub_class(module: str, name: str) -> type:
    return type(name, (PickleStub,), {"module": module, "name": name, "__module__": "soen_train.stub"})


def _reconstructor(cls: Any, base: Any, state: Any) -> Any:
    """``copyreg._reconstructor`` for stub classes only (never calls a real constructor)."""
    if isinstance(cls, type) and issubclass(cls, PickleStub):
        obj = cls.__new__(cls)
        obj.state = state
        return obj
    raise UnsafePickleError(f"copyreg._reconstructor on {cls!r} is not allowed")


class OriginalPickleReader(pickle.Unpickler):
    """Unpickler that admits only NumPy data and plain containers; see the module doc."""

    def __init__(self, file: Any, source: str) -> None:
        super().__init__(file)
        self.source = source
        self.stubbed: List[str] = []

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in ALLOWED_GLOBALS:
            return super().find_class(module, name)
        if module in NUMPY_DTYPE_MODULES and name.endswith("DType"):
            return super().find_class(module, name)
        if (module, name) == ("copyreg", "_reconstructor"):
            return _reconstructor
        if module.split(".")[0] in STUB_PACKAGES:
            self.stubbed.append(f"{module}.{name}")
            return _stub_class(module, name)
        raise UnsafePickleError(
            f"{self.source}: refused to unpickle '{module}.{name}': an original JAX checkpoint "
            "holds only NumPy arrays, plain containers and optimiser-state classes; nothing in "
            "the file was run"
        )

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self.source}: persistent ids are not used by JAX checkpoints")


def read_original_pickle(path: PathLike) -> Dict[str, Any]:
    """The dict of an original ``.pkl`` checkpoint, read with ``OriginalPickleReader``."""
    path = Path(path)
    if not path.is_file():
        raise JaxCheckpointError(f"original JAX checkpoint not found: {path}")
    raw = path.read_bytes()
    try:
        data = OriginalPickleReader(io.BytesIO(raw), str(path)).load()
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError) as err:
        raise JaxCheckpointError(f"{path}: not a readable pickle ({type(err).__name__}: {err})") from None
    if not isinstance(data, dict):
        raise JaxCheckpointError(f"{path}: expected the original checkpoint dict, got {type(data).__name__}")
    return data


# ---------------------------------------------------------------------------------- structure

def _params_block(data: Mapping[str, Any], source: str) -> Mapping[str, Any]:
    params = data.get("params", data if "layer_params" in data else None)
    if not isinstance(params, Mapping) or "layer_params" not in params:
        raise JaxCheckpointError(f"{source}: no 'params' with 'layer_params' (not an original JAX checkpoint)")
    return params


@dataclass
class MigratedCheckpoint:
    """What a migrated original checkpoint provides."""

    model: Any  # SOENModel with the checkpoint's weights
    checkpoint: JaxCheckpoint
    stubbed: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    jax_blocker: Optional[str] = None  # why the JAX backend cannot run the model (torch can)


def _copy_weights(model: Any, data: Mapping[str, Any], jax_model: Optional[Mapping[str, Any]],
                  source: str) -> None:
    """Write the checkpoint's ``params`` into ``model`` (in place; layout: ``original_pickle_layout``)."""
    import torch

    params = _params_block(data, source)
    layer_ids = sorted(model.layer_ids)
    rows = list(params["layer_params"])
    if len(rows) != len(layer_ids):
        raise JaxCheckpointError(f"{source}: {len(rows)} layer_params entries for a model of {len(layer_ids)} layers")
    kinds = {int(e["layer_id"]): str(e["layer_type"]) for e in model.spec["layers"]}
    with torch.no_grad():
        for lid, entry in zip(layer_ids, rows):
            layer = model.layer(lid)
            kind = kinds[lid]
            if kind not in KNOWN_KINDS:
                raise JaxCheckpointError(f"{source}: layer {lid} is a {kind}, which the original's JAX "
                                         f"checkpoints do not hold; migratable kinds: {', '.join(KNOWN_KINDS)}")
            for name, value in layer_tensors(kind, entry, layer.dim, f"{source}: layer {lid}").items():
                layer.get_parameter(name).copy_(torch.as_tensor(value, dtype=torch.float32))
        external = _external_order(model, jax_model)
        padded = as_float_array(params.get("connection_params", np.zeros((0, 0, 0))))
        if padded.shape[0] != len(external):
            raise JaxCheckpointError(
                f"{source}: connection_params holds {padded.shape[0]} connections, the model has {len(external)}"
            )
        masks = _masks(jax_model)
        for index, (src, dst) in enumerate(external):
            conn = model.connection(f"{src}_to_{dst}")
            weight = padded[index, : conn.n_to, : conn.n_from]
            _set_connection(conn, weight, masks.get((src, dst)))
        internal = params.get("internal_connections") or {}
        for lid, weight in internal.items():
            conn = model.connection(f"{int(lid)}_to_{int(lid)}")
            _set_connection(conn, as_float_array(weight), masks.get((int(lid), int(lid))))


def _external_order(model: Any, jax_model: Optional[Mapping[str, Any]]) -> List[Tuple[int, int]]:
    if jax_model and jax_model.get("connections"):
        ordered = sorted(jax_model["connections"], key=lambda c: int(c.get("index", 0)))
        return [(int(c["from_layer"]), int(c["to_layer"])) for c in ordered]
    pairs = [(int(c["from_layer"]), int(c["to_layer"])) for c in model.spec["connections"]]
    return [p for p in pairs if p[0] != p[1]]


def _masks(jax_model: Optional[Mapping[str, Any]]) -> Dict[Tuple[int, int], np.ndarray]:
    out: Dict[Tuple[int, int], np.ndarray] = {}
    if not jax_model:
        return out
    for c in jax_model.get("connections", []):
        if c.get("mask") is not None:
            out[(int(c["from_layer"]), int(c["to_layer"]))] = as_float_array(c["mask"])
    for layer in jax_model.get("layers", []):
        if layer.get("internal_mask") is not None:
            lid = int(layer["layer_id"])
            out[(lid, lid)] = as_float_array(layer["internal_mask"])
    return out


def _set_connection(conn: Any, weight: np.ndarray, mask: Optional[np.ndarray]) -> None:
    import torch

    if tuple(weight.shape) != (conn.n_to, conn.n_from):
        raise JaxCheckpointError(
            f"connection {conn.spec.from_layer}->{conn.spec.to_layer}: weights {weight.shape}, "
            f"expected ({conn.n_to}, {conn.n_from})"
        )
    if mask is not None:
        m = mask.astype(np.float32)
    elif conn.is_dynamic and not conn.is_internal:
        m = np.ones_like(weight, dtype=np.float32)  # a dense dynamic connection: every entry an edge
    else:
        m = (weight != 0).astype(np.float32)
    conn.mask.copy_(torch.as_tensor(m))
    conn.weight.copy_(torch.as_tensor(weight * m, dtype=torch.float32))


def _structure_model(data: Mapping[str, Any], soen: Optional[PathLike], source: str,
                     fallback: Any = None) -> Any:
    """The model whose structure the checkpoint's params fill: --soen, jax_model, else a copy
    of ``fallback`` (the configured model of a run resuming a params-only pickle)."""
    from soen_train.model.architecture import parse_architecture
    from soen_train.model.network import SOENModel
    from soen_train.model.soen_file import SoenFileError
    from soen_train.model.validation import ArchitectureError

    if soen is not None:
        try:
            return SOENModel.load(soen)
        except SoenFileError:
            return SOENModel.import_original(soen)
    jax_model = data.get("jax_model")
    if isinstance(jax_model, Mapping) and jax_model.get("layers"):
        topology = data.get("topology") if isinstance(data.get("topology"), Mapping) else {}
        raw = architecture_from_jax_model(jax_model, topology, source)
        try:
            arch = parse_architecture(raw, where=f"{source} (jax_model)")
        except ArchitectureError as err:
            raise JaxCheckpointError(f"{source}: cannot rebuild the architecture: {err}") from None
        return SOENModel(arch, seed=0)
    if fallback is not None:
        import copy

        return copy.deepcopy(fallback)
    raise JaxCheckpointError(
        f"{source}: a params-only checkpoint (written before checkpoint_version 1.0.0) does not "
        "describe its model; give the model it was trained from with --soen MODEL.soen"
    )


def migrate_in_memory(path: PathLike, soen: Optional[PathLike] = None,
                      fallback_model: Any = None) -> MigratedCheckpoint:
    """Read an original ``.pkl`` and return our model and checkpoint (nothing written).

    ``fallback_model`` gives the structure of a params-only pickle when ``soen`` is None.
    """
    source = str(path)
    reader_data = read_original_pickle(path)
    stubbed = sorted(set(_stub_names(reader_data)))
    model = _structure_model(reader_data, soen, source, fallback_model)
    jax_model = reader_data.get("jax_model") if isinstance(reader_data.get("jax_model"), Mapping) else None
    _copy_weights(model, reader_data, jax_model, source)
    notes: List[str] = []
    try:
        check_architecture(model.spec)
        blocker = None
    except JaxUnsupportedError as err:
        blocker = str(err)
    epoch = int(reader_data.get("epoch", 0) or 0)
    completed = 0 if reader_data.get("is_initial") else epoch + 1
    named = model.parameters_by_name()
    ckpt = JaxCheckpoint(
        params={k: v.detach().cpu().numpy() for k, v in named.items()},
        spec=model.spec,
        trainable=sorted(k for k, v in named.items() if v.requires_grad),
        epoch=completed,
        global_step=int(reader_data.get("global_step", 0) or 0),
        trainer_state={
            "migrated_from": source,
            "original_checkpoint_version": str(reader_data.get("checkpoint_version", "legacy")),
            "original_val_loss": _float_or_none(reader_data.get("val_loss")),
        },
    )
    notes.append("optimiser state not migrated (the original's optax layout): a resumed run starts fresh moments")
    return MigratedCheckpoint(model=model, checkpoint=ckpt, stubbed=stubbed, notes=notes, jax_blocker=blocker)


def _float_or_none(value: Any) -> Optional[float]:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _stub_names(value: Any, seen: Optional[set] = None) -> List[str]:
    """Names of the stub classes found anywhere in ``value`` (for the report)."""
    seen = seen if seen is not None else set()
    if id(value) in seen:
        return []
    seen.add(id(value))
    out: List[str] = []
    if isinstance(value, PickleStub):
        out.append(f"{value.module}.{value.name}")
        for part in (value.args, value.state, value.items):
            out += _stub_names(part, seen)
    elif isinstance(value, Mapping):
        for v in value.values():
            out += _stub_names(v, seen)
    elif isinstance(value, (list, tuple)):
        for v in value:
            out += _stub_names(v, seen)
    return out


def migrated_paths(path: PathLike, output: Optional[PathLike] = None) -> Tuple[Path, Path]:
    """(``.jax.npz``, ``.soen``) written for original checkpoint ``path``."""
    src = Path(path)
    base = Path(output) if output else src.with_suffix("")
    text = str(base)
    if text.endswith(SUFFIX):
        text = text[: -len(SUFFIX)]
    elif text.endswith((".pkl", ".npz", ".soen")):
        text = str(Path(text).with_suffix(""))
    return Path(text + SUFFIX), Path(text + ".soen")


def migrate_pickle(path: PathLike, output: Optional[PathLike] = None,
                   soen: Optional[PathLike] = None) -> Tuple[Optional[Path], Path, MigratedCheckpoint]:
    """Convert an original ``.pkl`` to ``<out>.jax.npz`` + ``<out>.soen``; returns both paths.

    A model the JAX backend cannot run (``jax_blocker``) gets its ``.soen`` only (the torch
    backend trains it); the returned ``.jax.npz`` path is then None.
    """
    migrated = migrate_in_memory(path, soen)
    npz, soen_out = migrated_paths(path, output)
    migrated.model.save(soen_out)
    if migrated.jax_blocker:
        return None, soen_out, migrated
    save_checkpoint(npz, migrated.checkpoint)
    return npz, soen_out, migrated


@dataclass
class ResumeState:
    """What ``resume_training`` returns; unpacks like the original's 5-tuple."""

    jax_model: Any
    params: Dict[str, Any]
    opt_state: Optional[List[np.ndarray]]
    start_epoch: int
    global_step: int

    def __iter__(self):
        return iter((self.jax_model, self.params, self.opt_state, self.start_epoch, self.global_step))


def resume_training(path: PathLike, soen: Optional[PathLike] = None) -> ResumeState:
    """(jax_model, params, opt_state, start_epoch, global_step) of a JAX checkpoint.

    ``path`` is one of our ``.jax.npz`` checkpoints (its ``.soen`` beside it gives the model)
    or an original ``.pkl`` (read with the restricted unpickler; its optimiser state is not
    carried over, so ``opt_state`` is None). ``start_epoch`` is the number of epochs already
    trained, i.e. the index of the next epoch. ``opt_state`` of our checkpoints is the list
    of optax leaves in flatten order (rebuild with the same optimiser's tree structure), or
    None when the checkpoint holds none (one migrated from an original ``.pkl``).
    """
    import jax.numpy as jnp

    from soen_train.model.network import SOENModel

    from .checkpoint import load_checkpoint, soen_path_for
    from .simulator import JaxSOEN

    text = str(path)
    if text.endswith(".pkl"):
        migrated = migrate_in_memory(path, soen)
        model, ckpt, opt = migrated.model, migrated.checkpoint, None
    else:
        ckpt = load_checkpoint(path)
        model_file = Path(soen) if soen else soen_path_for(path)
        if not model_file.is_file():
            raise JaxCheckpointError(f"{path}: its model file {model_file} is missing (give soen=...)")
        model = SOENModel.load(model_file)
        opt = list(ckpt.opt_leaves) or None
    jax_model, params = JaxSOEN.from_torch(model)
    params = {k: jnp.asarray(v) for k, v in ckpt.params.items()}
    return ResumeState(jax_model, params, opt, ckpt.epoch, ckpt.global_step)


def find_checkpoints(folder: PathLike, patterns: Sequence[str]) -> List[Path]:
    """Files in ``folder`` (not recursive) matching any of ``patterns``, sorted."""
    root = Path(folder)
    if not root.is_dir():
        raise JaxCheckpointError(f"--dir {root}: not a folder")
    found = sorted({p for pattern in patterns for p in root.glob(pattern) if p.is_file()})
    return found
