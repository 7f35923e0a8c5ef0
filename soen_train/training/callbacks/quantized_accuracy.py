"""``QuantizedAccuracyCallback``: how accurate the network would be with hardware-level weights.

After every validation epoch (not the sanity check) the selected learnable connections are
snapped in place to the nearest codebook level, the validation loader (or its first
``max_eval_batches`` batches) is run through the model in eval mode without gradients, the
top-1 accuracy over all samples is computed as a fraction in [0, 1] with the trainer's
alignment rule (pooled outputs for seq2static; every non-padding step for seq2seq), and the
full-precision weights are restored. Logged as ``val_quantized_accuracy``. The evaluation
starts every sample from rest (no carried states) and sees no noise.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor

from soen_train.config.errors import ConfigError
from soen_train.training.alignment import align
from soen_train.training.callbacks.model_refs import (
    connection_parameter,
    resolve_connections,
    unwrap_model,
)
from soen_train.training.callbacks.quantization import make_codebook, nearest_code
from soen_train.training.losses.param_checks import check_number
from soen_train.training.metrics import accuracy

TAG = "val_quantized_accuracy"


@contextlib.contextmanager
def snapped_weights(model: Any, connections: Sequence[str], codebook: Tensor) -> Iterator[None]:
    """Within the block, ``connections`` hold their nearest codebook levels; restored after."""
    params = [connection_parameter(model, name) for name in connections]
    saved = [p.detach().clone() for p in params]
    try:
        with torch.no_grad():
            for p in params:
                p.copy_(nearest_code(p, codebook))
        yield
    finally:
        with torch.no_grad():
            for p, original in zip(params, saved):
                p.copy_(original)


def evaluate_accuracy(
    pl_module: Any, batches: Iterable[Any], max_batches: int | None = None
) -> float:
    """Top-1 accuracy (fraction) of ``pl_module``'s model over ``batches`` of (x, class labels)."""
    model = unwrap_model(pl_module)
    outputs: list[Tensor] = []
    targets: list[Tensor] = []
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for i, batch in enumerate(batches):
                if max_batches is not None and i >= max_batches:
                    break
                x, y = batch[0].to(pl_module.device), batch[1].to(pl_module.device)
                if y.is_floating_point():
                    raise ConfigError(
                        "callbacks.metrics.quantized_accuracy needs integer class labels; this "
                        "dataset has real-valued targets"
                    )
                aligned = align(
                    model(x),
                    y,
                    x,
                    pl_module.mapping,
                    pl_module.paradigm,
                    pl_module.pooling_name,
                    pl_module.pooling_params,
                )
                outputs.append(aligned.outputs.detach().cpu())
                targets.append(aligned.targets.detach().cpu())
    finally:
        model.train(was_training)
    if not outputs:
        raise ValueError("quantized accuracy: the validation loader yielded no batches")
    return accuracy(torch.cat(outputs), torch.cat(targets))


class QuantizedAccuracyCallback(pl.Callback):
    """Logs the validation accuracy with the weights snapped to a codebook."""

    def __init__(
        self,
        bits: int | None = None,
        levels: int | None = None,
        min_val: float = -0.24,
        max_val: float = 0.24,
        connections: Sequence[str] | None = None,
        max_eval_batches: int | None = None,
        codebook: Sequence[float] | None = None,
        setting: str = "QuantizedAccuracyCallback",
    ) -> None:
        self.codebook = make_codebook(setting, min_val, max_val, bits, levels, codebook)
        self.requested = None if connections is None else list(connections)
        self.connections: list[str] | None = None
        self.max_eval_batches = (
            None
            if max_eval_batches is None
            else int(
                check_number(setting, "max_eval_batches", max_eval_batches, minimum=1, integer=True)
            )
        )
        self.setting = setting
        self.last_value: float | None = None

    def check_module(self, pl_module: Any) -> None:
        """Resolve the connections and check the module can align outputs (error otherwise)."""
        missing = [
            a
            for a in ("mapping", "paradigm", "pooling_name", "pooling_params")
            if not hasattr(pl_module, a)
        ]
        if missing:
            raise ConfigError(
                f"{self.setting}: needs a SOENLightningModule (missing {', '.join(missing)})"
            )
        if pl_module.paradigm != "supervised":
            raise ConfigError(
                f"{self.setting}: accuracy needs class labels, but training.paradigm is "
                f"'{pl_module.paradigm}'; use it with paradigm supervised"
            )
        self.connections = resolve_connections(
            self.requested, unwrap_model(pl_module), self.setting, learnable_only=True
        )

    def measure(self, pl_module: Any, batches: Iterable[Any]) -> float:
        """Accuracy with snapped weights over ``batches``; the weights are restored afterwards."""
        if self.connections is None:
            self.check_module(pl_module)
        assert self.connections is not None
        with snapped_weights(unwrap_model(pl_module), self.connections, self.codebook):
            value = evaluate_accuracy(pl_module, batches, self.max_eval_batches)
        self.last_value = value
        return value

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self.check_module(pl_module)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        loaders = trainer.val_dataloaders
        loader = loaders[0] if isinstance(loaders, (list, tuple)) else loaders
        if loader is None:
            return
        value = self.measure(pl_module, loader)
        pl_module.log(TAG, value, on_step=False, on_epoch=True)
