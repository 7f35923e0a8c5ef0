"""Builds the SOEN model a run trains, from an architecture or a saved model file.

The run's seed (base seed + repeat) always controls initialisation; a seed stored in the
architecture YAML or the .soen file is ignored unless the exact saved weights are asked for.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

from soen_train.config.errors import ConfigError
from soen_train.model import SOENModel
from soen_train.model.soen_load import load_any_model


def _existing(path: str, key: str) -> Path:
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(f"{key}: file not found: {p}")
    return p


def _with_time_step(
    spec: Mapping[str, Any], dt: Optional[float], dt_learnable: bool
) -> Dict[str, Any]:
    """A copy of an architecture spec with the run's dt override and dt_learnable flag applied."""
    out = copy.deepcopy(dict(spec))
    sim = dict(out.get("simulation") or {})
    if dt is not None:
        sim["dt"] = float(dt)
    if dt_learnable:
        sim["dt_learnable"] = True
    out["simulation"] = sim
    return out


def _read_yaml(path: Path) -> Dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: an architecture YAML must be a mapping with layers and connections"
        )
    return data


def build_model(
    base_model_path: Optional[str],
    load_exact_model_state: bool,
    architecture_yaml: Optional[str],
    architecture: Optional[Mapping[str, Any]],
    seed: int,
    dt: Optional[float] = None,
    dt_learnable: bool = False,
) -> SOENModel:
    """The model to train: fresh weights from `seed`, or the exact weights of a saved model."""
    saved: Optional[SOENModel] = None
    if base_model_path:
        path = _existing(base_model_path, "model.base_model_path")
        if path.suffix in (".yaml", ".yml"):
            spec = _read_yaml(path)
        elif path.suffix in (".soen", ".pth"):
            saved = load_any_model(path)  # ours, or an original-toolkit .soen (imported)
            spec = saved.spec
        else:
            raise ConfigError(
                f"model.base_model_path: {path.name} is not a model file; use a .soen model "
                "(ours, or the original toolkit's .soen/.pth) or an architecture .yaml; to resume "
                "training use training.train_from_checkpoint"
            )
    elif architecture_yaml:
        spec = _read_yaml(_existing(architecture_yaml, "model.architecture_yaml"))
    elif architecture:
        spec = dict(architecture)
    else:
        raise ConfigError(
            "no model source: set model.architecture_yaml, model.base_model_path or arch="
        )
    model = SOENModel.from_yaml(_with_time_step(spec, dt, dt_learnable), seed=seed)
    if saved is not None and load_exact_model_state:
        missing, unexpected = model.load_state_dict(saved.state_dict(), strict=False)
        if unexpected or any(k != "dt_parameter" for k in missing):
            raise ConfigError(
                f"model.base_model_path: saved weights do not fit the architecture ({missing or unexpected})"
            )
        if dt is not None:
            model.set_dt(float(dt))
    return model


def check_model_fits_data(
    model: SOENModel, input_dim: int, num_classes: Optional[int], mapping: str
) -> None:
    """Fail before training when the model's input or output width cannot match the data."""
    if model.input_dim != input_dim:
        raise ConfigError(
            f"the model's input layer has {model.input_dim} nodes but the data has {input_dim} "
            "features per step; change the first layer's dim or the dataset"
        )
    if num_classes and model.output_dim != num_classes:
        raise ConfigError(
            f"the model's output layer has {model.output_dim} nodes but the data has "
            f"{num_classes} classes ({mapping}); make the last layer's dim {num_classes}"
        )
