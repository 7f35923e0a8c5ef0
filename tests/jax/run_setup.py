"""What ``run_jax_repeat`` receives (config, run paths, data module, seeded model), for tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import model_zoo as zoo
import torch

from soen_train.config.schema import LossItem, SOENTrainConfig
from soen_train.data import SOENDataModule
from soen_train.model.network import SOENModel
from soen_train.training.run_paths import RunPaths


def learning_arch() -> Dict[str, Any]:
    """The pulses network with gains large enough to learn in a few tiny epochs."""
    arch = zoo.pulse_net()
    for layer in arch["layers"][1:]:
        layer["params"]["gamma_plus"] = {"distribution": "constant", "params": {"value": 0.05}}
        layer["params"]["gamma_minus"] = {"distribution": "constant", "params": {"value": 0.02}}
    return arch


def tiny_config(
    root: Path, data_path: Path, losses: Optional[List[Dict[str, Any]]] = None, **training: Any
) -> SOENTrainConfig:
    """A SOENTrainConfig for a few fast epochs on the tiny pulses file, TensorBoard only."""
    cfg = SOENTrainConfig()
    cfg.seed = 0
    cfg.data.data_path = str(data_path)
    cfg.model.architecture = learning_arch()
    cfg.model.time_pooling.params = {"scale": 20.0}
    cfg.training.max_epochs = 3
    cfg.training.batch_size = 16
    cfg.training.lr = 0.02
    cfg.training.optimizer.lr = 0.02
    cfg.training.optimizer.name = "adam"
    if losses is not None:
        cfg.training.loss.losses = [LossItem(**item) for item in losses]
    for key, value in training.items():
        setattr(cfg.training, key, value)
    cfg.logging.project_dir = str(root / "runs")
    cfg.logging.project_name = "jax"
    cfg.logging.experiment_name = "tests"
    cfg.logging.log_freq = 1
    cfg.logging.progress_bar = False
    return cfg


def repeat_inputs(
    cfg: SOENTrainConfig, repeat: int = 0
) -> Tuple[RunPaths, SOENDataModule, SOENModel]:
    """(paths, data module, model) of one repeat, seeded as the runner seeds them."""
    seed = cfg.seed + repeat
    lg = cfg.logging
    paths = RunPaths.create(
        lg.project_dir, lg.project_name, lg.experiment_name, lg.group_name, repeat
    )
    dm = SOENDataModule(
        cfg.data.data_path,
        batch_size=cfg.training.batch_size,
        shuffle_seed=seed,
        target_seq_len=cfg.data.target_seq_len,
    )
    dm.setup("fit")
    torch.manual_seed(seed)
    model = SOENModel.from_yaml(cfg.model.architecture, seed=seed)
    return paths, dm, model
