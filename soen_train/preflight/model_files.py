"""Every model-side file a job names, opened and checked before the model or data are built."""

from __future__ import annotations

from pathlib import Path

from soen_train.config.errors import ConfigError
from soen_train.config.schema import SOENTrainConfig
from soen_train.preflight.checkpoint_files import check_checkpoint_file
from soen_train.preflight.soen_files import check_soen_file
from soen_train.preflight.yaml_files import YAML_SUFFIXES, load_yaml_strict


def _architecture_yaml(path_text: str, key: str) -> None:
    path = Path(path_text)
    if not path.is_file():
        raise ConfigError(f"{key}: file not found: {path}")
    data = load_yaml_strict(path, key)
    if not isinstance(data, dict):
        raise ConfigError(f"{key}: {path}: an architecture YAML must be a mapping with layers and connections")


def _original_jax_pickle(path_text: str, key: str) -> None:
    """An original toolkit JAX ``.pkl``: read with the restricted unpickler (nothing runs)."""
    from soen_train.jax.errors import JaxCheckpointError
    from soen_train.jax.original_checkpoint import read_original_pickle

    try:
        read_original_pickle(path_text)
    except JaxCheckpointError as err:
        raise ConfigError(f"{key}: {err}") from None


def check_model_files(cfg: SOENTrainConfig) -> None:
    """Resume checkpoint, base model, architecture YAML and distillation teacher."""
    t, m = cfg.training, cfg.model
    resume = str(t.train_from_checkpoint or "")
    if resume.endswith(".pkl") and t.backend == "jax":
        _original_jax_pickle(resume, "training.train_from_checkpoint")
    elif resume.endswith(".pkl"):
        raise ConfigError(
            f"training.train_from_checkpoint={resume}: a .pkl is the original toolkit's JAX "
            "checkpoint; resume it with training.backend=jax, or start a torch run from its weights "
            "(soen-train-jax migrate, then model.base_model_path=<stem>.soen "
            "model.load_exact_model_state=true)"
        )
    elif t.train_from_checkpoint:
        check_checkpoint_file(
            str(t.train_from_checkpoint), "training.train_from_checkpoint",
            torch_format=t.backend == "torch",
        )
    if m.base_model_path:
        path = str(m.base_model_path)
        if Path(path).suffix in YAML_SUFFIXES:
            _architecture_yaml(path, "model.base_model_path")
        elif Path(path).suffix == ".soen":
            check_soen_file(path, "model.base_model_path")
    if m.architecture_yaml:
        _architecture_yaml(str(m.architecture_yaml), "model.architecture_yaml")
    teacher = t.distillation.teacher_model_path
    if t.paradigm == "distillation" and teacher and Path(str(teacher)).suffix == ".soen":
        check_soen_file(str(teacher), "training.distillation.teacher_model_path")
