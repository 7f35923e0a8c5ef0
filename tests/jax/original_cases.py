"""The original toolkit's parity fixtures: where they are, and a torch model built from one.

A case is a folder ``<case>/`` with ``spec.yaml`` (the original's architecture YAML) and
``arrays.npz`` (``input``, ``output``, ``s/<id>``, ``state/<name>``, ``mask/J_<a>_to_<b>``).
The repository copy ``tests/fixtures/parity`` is read first (CI has only that one), then the
shared folder the fixtures came from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

import numpy as np
import torch

REPO_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "parity"
SHARED_FIXTURES = Path("/work/shared/parity/cases")


def cases_dir() -> Optional[Path]:
    """The first fixture folder that exists (repository copy first)."""
    for path in (REPO_FIXTURES, SHARED_FIXTURES):
        if path.is_dir() and any(path.glob("*/spec.yaml")):
            return path
    return None


def manifest() -> Dict[str, Dict[str, Any]]:
    """{case: manifest entry}; empty when the folder has no manifest."""
    root = cases_dir()
    if root is None or not (root / "manifest.json").is_file():
        return {}
    return {c["case"]: c for c in json.loads((root / "manifest.json").read_text())["cases"]}


def case_names() -> List[str]:
    """Every case folder with a spec and arrays, sorted."""
    root = cases_dir()
    if root is None:
        return []
    return sorted(p.parent.name for p in root.glob("*/spec.yaml") if (p.parent / "arrays.npz").is_file())


def arrays(case: str) -> Dict[str, np.ndarray]:
    """The case's arrays (no pickle)."""
    with np.load(cases_dir() / case / "arrays.npz", allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _original_tensor(
    state: Mapping[str, np.ndarray], index: int, name: str, candidates: List[str]
) -> np.ndarray:
    """The original's tensor for one torch parameter of layer list position ``index``."""
    for cand in [name, *candidates]:
        direct = f"state/layers.{index}.{cand}"
        if direct in state:
            return state[direct]
        logged = f"state/layers.{index}.log_{cand}"
        if logged in state:
            return np.exp(state[logged])
    have = sorted(k for k in state if k.startswith(f"state/layers.{index}."))
    raise KeyError(f"no original tensor for layers.{index}.{name}; the case has {have}")


def original_state(data: Mapping[str, np.ndarray]) -> Dict[str, torch.Tensor]:
    """The original's state_dict from a case's arrays, aliases included (as it saved them)."""
    state = {k[len("state/") :]: torch.from_numpy(v) for k, v in data.items() if k.startswith("state/")}
    for key, target in data.items():
        if key.startswith("state_alias/"):
            name = str(target)
            state[key[len("state_alias/") :]] = state[name[len("state/") :] if name.startswith("state/") else name]
    return state


def torch_model_from_case(case: str) -> Any:
    """``SOENModel`` from the case's spec.yaml with the original's tensors copied in.

    Uses the torch side's ``load_original_state`` (the importer's placement rules) when it
    exists, else copies the tensors the model's parameters name.
    """
    from soen_train.model.network import SOENModel

    root = cases_dir() / case
    data = arrays(case)
    model = SOENModel.from_yaml(root / "spec.yaml")
    try:
        from soen_train.model.original_import import load_original_state
    except ImportError:
        return _copy_parameters(model, data)
    masks = {k[len("mask/") :]: torch.from_numpy(v) for k, v in data.items() if k.startswith("mask/")}
    load_original_state(model, original_state(data), masks, where=f"fixture {case}")
    return model


def _copy_parameters(model: Any, data: Mapping[str, np.ndarray]) -> Any:
    """Copy the original tensor behind each torch parameter (layer list position prefix)."""
    from soen_train.jax.layers import JAX_LAYERS

    spec = model.spec
    position = {int(e["layer_id"]): i for i, e in enumerate(spec["layers"])}
    named = model.parameters_by_name()
    with torch.no_grad():
        for key, tensor in named.items():
            if key == "dt":
                continue
            kind, rest = key.split(".", 1)
            if kind == "layers":
                lid_text, name = rest.split(".", 1)
                lid = int(lid_text)
                entry = next(e for e in spec["layers"] if int(e["layer_id"]) == lid)
                cls = JAX_LAYERS.get(str(entry["layer_type"]))
                aliases = [a for r in cls.ROLES if name in r.torch_names for a in r.torch_names]
                value = _original_tensor(data, position[lid], name, aliases)
            else:
                value = data[f"state/connections.J_{rest}"]
                mask = data.get(f"mask/J_{rest}")
                if mask is not None:
                    model.connection(rest).mask.copy_(torch.from_numpy(mask))
            tensor.copy_(torch.from_numpy(np.asarray(value, np.float32)).reshape(tensor.shape))
    if hasattr(model, "refresh_fan_in"):
        model.refresh_fan_in()
    return model
