"""``StateTrajectoryImageCallback``: state-trajectory plots logged as TensorBoard images.

At the end of every validation epoch (``mode='val'``, not the sanity check) or training
epoch (``mode='train'``) the first ``num_samples`` sequences of that split are simulated
in eval mode without gradients, and for each sample the states s(t) of up to
``max_neurons_per_sample`` nodes of layer ``layer_id`` (default: the output layer) are
drawn against the time step t = 0..T (dimensionless states; t = 0 is the initial state).
Each plot is rendered off-screen with matplotlib's Agg canvas and logged as the image
``<tag_prefix>/layer_<id>/sample_<i>``.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from torch import Tensor

from soen_train.training.callbacks.log_writers import tensorboard_writers
from soen_train.training.callbacks.model_refs import (
    output_layer_id,
    resolve_layer_ids,
    unwrap_model,
)
from soen_train.training.losses.param_checks import check_choice, check_number

MODES = ("val", "train")


def render_trajectories(states: Tensor, title: str) -> np.ndarray:
    """RGB image [H, W, 3] (uint8) of the columns of ``states`` [T+1, N] against the time step."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    data = states.detach().float().cpu().numpy()
    fig = Figure(figsize=(5, 3), dpi=80)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    steps = np.arange(data.shape[0])
    for j in range(data.shape[1]):
        ax.plot(steps, data[:, j], label=f"node {j}", linewidth=1.2)
    ax.set_xlabel("time step")
    ax.set_ylabel("state s")
    ax.set_title(title, fontsize=9)
    if data.shape[1] > 0:
        ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def first_samples(source: Any, count: int) -> tuple[Tensor, Tensor | None]:
    """The first ``count`` (x, y) pairs of a dataset (indexable) or of an iterable of batches."""
    if (
        hasattr(source, "__getitem__")
        and hasattr(source, "__len__")
        and not isinstance(source, torch.utils.data.DataLoader)
    ):
        n = min(count, len(source))
        items = [source[i] for i in range(n)]
        xs = torch.stack([it[0] for it in items])
        ys = torch.stack([torch.as_tensor(it[1]) for it in items]) if len(items[0]) > 1 else None
        return xs, ys
    xs: list[Tensor] = []
    ys: list[Tensor] = []
    for batch in source:
        xs.append(batch[0])
        if len(batch) > 1:
            ys.append(batch[1])
        if sum(x.shape[0] for x in xs) >= count:
            break
    if not xs:
        raise ValueError("state trajectories: the data source yielded no samples")
    x = torch.cat(xs)[:count]
    y = torch.cat(ys)[:count] if ys else None
    return x, y


class StateTrajectoryImageCallback(pl.Callback):
    """Logs per-sample state-trajectory plots of one layer as images every epoch."""

    def __init__(
        self,
        mode: str = "val",
        layer_id: int | None = None,
        num_samples: int = 4,
        max_neurons_per_sample: int = 4,
        tag_prefix: str = "callbacks/state_trajectories",
        setting: str = "StateTrajectoryImageCallback",
    ) -> None:
        self.mode = check_choice(setting, "mode", mode, MODES)
        self.layer_id = (
            None
            if layer_id is None
            else int(check_number(setting, "layer_id", layer_id, integer=True))
        )
        self.num_samples = int(
            check_number(setting, "num_samples", num_samples, minimum=1, integer=True)
        )
        self.max_neurons = int(
            check_number(
                setting, "max_neurons_per_sample", max_neurons_per_sample, minimum=1, integer=True
            )
        )
        if not isinstance(tag_prefix, str) or not tag_prefix.strip("/"):
            raise ValueError(f"{setting}: tag_prefix = {tag_prefix!r} must be a non-empty string")
        self.tag_prefix = tag_prefix.strip("/")
        self.setting = setting
        self.logged_tags: list[str] = []

    def check_model(self, model: Any) -> int:
        """Fix the layer to plot (null = output layer); error if it is not a layer of ``model``."""
        if self.layer_id is None:
            self.layer_id = output_layer_id(model)
        resolved = resolve_layer_ids([self.layer_id], model, self.setting)
        assert resolved is not None
        return resolved[0]

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self.check_model(unwrap_model(pl_module))

    def _source(self, trainer: pl.Trainer) -> Any:
        dm = trainer.datamodule
        if dm is not None and callable(getattr(dm, "dataset", None)):
            return dm.dataset(self.mode)
        return trainer.val_dataloaders if self.mode == "val" else trainer.train_dataloader

    def plot(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> list[str]:
        """Simulate the samples, render and log one image per sample; returns the tags."""
        writers = tensorboard_writers(trainer)
        if not writers:
            return []
        model = unwrap_model(pl_module)
        layer = self.check_model(model)
        x, y = first_samples(self._source(trainer), self.num_samples)
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                sim = model.simulate(x.to(pl_module.device))
        finally:
            model.train(was_training)
        history = sim.states[layer]
        tags = []
        for i in range(history.shape[0]):
            label = ""
            if y is not None and y[i].dim() == 0:
                label = f", label {y[i].item():g}"
            title = f"layer {layer}, sample {i}{label}, epoch {trainer.current_epoch}"
            image = render_trajectories(history[i, :, : self.max_neurons], title)
            tag = f"{self.tag_prefix}/layer_{layer}/sample_{i}"
            for writer in writers:
                writer.add_image(tag, image, trainer.global_step, dataformats="HWC")
            tags.append(tag)
        self.logged_tags = tags
        return tags

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.mode == "val" and not trainer.sanity_checking:
            self.plot(trainer, pl_module)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.mode == "train":
            self.plot(trainer, pl_module)
