"""Builds the SOEN model a run trains, from an architecture or a saved model file.

The run's seed (base seed + repeat) always controls initialisation; a seed stored in the
architecture YAML or the .soen file is ignored unless the exact saved weights are asked for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional

from soen_train.config.errors import ConfigError
from soen_train.model import SOENModel


def _existing(path: str, key: str) -> Path:
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(f"{key}: file not found: {p}")
    return p


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
    if base_model_path:
        path = _existing(base_model_path, "model.base_model_path")
        if path.suffix in (".yaml", ".yml"):
            model = SOENModel.from_yaml(path, seed=seed)
        elif path.suffix == ".soen":
            saved = SOENModel.load(path)
            model = saved if load_exact_model_state else SOENModel.from_yaml(saved.spec, seed=seed)
        else:
            raise ConfigError(
                f"model.base_model_path: {path.name} is not a model file; use a .soen model "
                "(or an architecture .yaml); to resume training use training.train_from_checkpoint"
            )
    elif architecture_yaml:
        model = SOENModel.from_yaml(_existing(architecture_yaml, "model.architecture_yaml"), seed=seed)
    elif architecture:
        model = SOENModel.from_yaml(dict(architecture), seed=seed)
    else:
        raise ConfigError("no model source: set model.architecture_yaml, model.base_model_path or arch=")
    if dt is not None:
        model.set_dt(float(dt))
    model.set_dt_learnable(bool(dt_learnable))
    return model


def check_model_fits_data(model: SOENModel, input_dim: int, num_classes: Optional[int], mapping: str) -> None:
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
