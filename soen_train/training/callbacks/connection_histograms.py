"""``ConnectionHistogramCallback``: weight distributions of the learnable connections.

After every validation epoch (not the sanity check) each learnable connection's masked
weights J (dimensionless couplings) are logged as a TensorBoard histogram
``connection_histograms/<from>_to_<to>`` and as scalars
``connection_stats/<from>_to_<to>/{mean,std,abs_max}`` (to every logger). The values are
the stored full-precision weights over all entries of J, masked entries (exact zeros)
included.
"""

from __future__ import annotations

import lightning.pytorch as pl
import torch

from soen_train.training.callbacks.log_writers import tensorboard_writers
from soen_train.training.callbacks.model_refs import connection_tensors, unwrap_model


def connection_stats(weight: torch.Tensor) -> dict[str, float]:
    """mean, std (population) and max |w| of a weight tensor."""
    w = weight.detach().float().reshape(-1)
    return {
        "mean": float(w.mean()),
        "std": float(w.std(unbiased=False)) if w.numel() > 0 else 0.0,
        "abs_max": float(w.abs().max()) if w.numel() > 0 else 0.0,
    }


class ConnectionHistogramCallback(pl.Callback):
    """Logs histograms and summary statistics of every learnable connection's weights."""

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        weights = connection_tensors(unwrap_model(pl_module), learnable_only=True)
        writers = tensorboard_writers(trainer)
        for name, weight in weights.items():
            for stat, value in connection_stats(weight).items():
                pl_module.log(
                    f"connection_stats/{name}/{stat}", value, on_step=False, on_epoch=True
                )
            values = weight.detach().float().cpu()
            for writer in writers:
                writer.add_histogram(f"connection_histograms/{name}", values, trainer.global_step)
