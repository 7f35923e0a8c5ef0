"""Evaluate a trained model (a `.ckpt` or a `.soen`) on one split of a dataset, and predict.

The run's own settings (data preprocessing, time pooling, losses, metrics) come from the
`run_config.yaml` that every run writes beside its checkpoints, so the numbers are those the
run itself reported for that split. Plain Lightning, no Hydra.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
import torch

from soen_train.config.errors import ConfigError
from soen_train.config.schema import SOENTrainConfig

SPLITS = ("train", "val", "test")


@dataclass
class EvaluationResult:
    """Metrics of one split (named `<split>_loss`, `<split>_accuracy`, ...) and the arrays
    of the predictions: pooled outputs [N, C] (seq2static) or [N, T, C], labels, classes."""

    split: str
    metrics: Dict[str, float]
    outputs: np.ndarray
    targets: Optional[np.ndarray]


def _loader(dm: Any, split: str) -> Any:
    if dm.splits.get(split, 0) == 0:
        have = ", ".join(s for s in SPLITS if dm.splits.get(s, 0)) or "none"
        raise ConfigError(f"the dataset has no {split} split (it has: {have})")
    return dm.ordered_dataloader(split)


def evaluate_model(
    cfg: SOENTrainConfig,
    model_path: Path,
    split: str = "test",
    data_path: Optional[str] = None,
) -> EvaluationResult:
    """Metrics and predictions of the model in ``model_path`` on ``split``.

    Args:
        cfg: the run's config (its model, data, pooling, losses and metrics sections are used).
        model_path: a Lightning `.ckpt` written by soen-train, or a `.soen` model.
        split: train, val or test.
        data_path: another HDF5 file to evaluate on (default: the run's dataset).
    """
    import lightning.pytorch as pl

    from soen_train.model import SOENModel
    from soen_train.training.datamodule_factory import build_datamodule
    from soen_train.training.model_factory import build_model
    from soen_train.training.runner import build_module, quiet_lightning

    if split not in SPLITS:
        raise ConfigError(f"split {split!r} is not one of {', '.join(SPLITS)}")
    quiet_lightning()
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data))
    if data_path is not None:
        cfg.data.data_path, cfg.data.dataset = str(data_path), None
    dm = build_datamodule(cfg, cfg.seed)
    checkpoint = None
    if model_path.suffix == ".ckpt":
        checkpoint = torch.load(model_path, map_location="cpu", weights_only=True)
        if "SOENDataModule" in checkpoint and data_path is None:
            dm.load_state_dict(checkpoint["SOENDataModule"])  # the run's train-split scaling
    dm.setup("fit")
    dm.setup("test")
    if model_path.suffix == ".soen":
        model = SOENModel.load(model_path)
    else:
        m = cfg.model
        model = build_model(m.base_model_path, m.load_exact_model_state, m.architecture_yaml,
                            m.architecture, seed=cfg.seed, dt=m.dt, dt_learnable=m.dt_learnable)
    module = build_module(cfg, model, dm.seq_len)
    if checkpoint is not None:
        module.load_state_dict(checkpoint["state_dict"])
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=False)
    rows = trainer.test(module, dataloaders=_loader(dm, split), verbose=False, weights_only=True)
    metrics = {k.replace("test_", f"{split}_", 1): float(v) for k, v in rows[0].items()}
    outputs, targets = _predictions(module, dm, split)
    return EvaluationResult(split=split, metrics=metrics, outputs=outputs, targets=targets)


@torch.no_grad()
def _predictions(module: Any, dm: Any, split: str) -> tuple:
    """Pooled (or per-step) outputs and targets of every sample of the split, in file order."""
    from soen_train.training.alignment import align

    module.eval()
    outs, tgts = [], []
    for batch in _loader(dm, split):
        x, y = batch[0], (batch[1] if len(batch) > 1 else None)
        history = module.model(x)
        aligned = align(history, y, x, module.mapping, module.paradigm, module.pooling_name,
                        module.pooling_params)
        outs.append(aligned.outputs.cpu().numpy())
        if aligned.targets is not None:
            tgts.append(aligned.targets.cpu().numpy())
    return np.concatenate(outs), (np.concatenate(tgts) if tgts else None)


def save_predictions(result: EvaluationResult, path: Path) -> Path:
    """Write outputs, predicted classes and labels to an `.npz` (no pickle)."""
    arrays = {"outputs": result.outputs, "predicted": result.outputs.argmax(-1)}
    if result.targets is not None:
        arrays["targets"] = result.targets
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path
