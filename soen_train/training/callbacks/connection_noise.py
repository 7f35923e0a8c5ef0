"""``ConnectionNoiseCallback``: a fresh Gaussian offset on named connections' weights per forward.

Fabricated couplings are never exactly what was designed. During training each forward
pass draws one offset per existing entry of J, ``N(0, std^2)``, held fixed over the time
steps of that pass; with ``relative`` the std is ``std * mean|J|`` over the connection's
existing entries at that moment. The draws come from the callback's own generator seeded by
``seed`` (default: the run's seed), so a run is reproducible and the noise stream does not
shift when other parts of the code draw random numbers. Validation and test see the
noiseless weights (the original kept the noise on and ignored its seed).

The offset is a model weight transform (masked entries stay exactly zero); it runs after a
QAT quantiser on the same connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor

from soen_train.training.callbacks.model_refs import resolve_connections, unwrap_model
from soen_train.training.callbacks.weight_transforms import ORDER_NOISE, transform_stack
from soen_train.training.losses.param_checks import check_bool, check_number


def noise_std(weight: Tensor, std: float, relative: bool) -> float:
    """The absolute std for ``weight``: ``std``, or ``std * mean |w|`` over non-zero entries."""
    if not relative:
        return std
    w = weight.detach().abs()
    existing = (w != 0).sum().clamp_min(1)
    return std * float(w.sum() / existing)


class ConnectionNoiseCallback(pl.Callback):
    """Adds seeded per-forward Gaussian noise to the named connections while training."""

    owner = "connection_noise"

    def __init__(
        self,
        connections: Sequence[str],
        std: float,
        relative: bool = False,
        seed: int | None = None,
        setting: str = "ConnectionNoiseCallback",
    ) -> None:
        self.requested = list(connections)
        if not self.requested:
            raise ValueError(
                f"{setting}: connections is empty; name the connections (e.g. ['0_to_1']) to perturb"
            )
        self.std = check_number(setting, "std", std, minimum=0.0)
        self.relative = check_bool(setting, "relative", relative)
        self.seed = int(seed if seed is not None else torch.initial_seed() % (2**63))
        self._generator = torch.Generator().manual_seed(self.seed)
        self.setting = setting
        self.connections: list[str] | None = None
        self.last_std: dict = {}
        self._model: Any = None

    def check_model(self, model: Any) -> list[str]:
        """Resolve the names against all of ``model``'s connections (error if unknown)."""
        self.connections = resolve_connections(
            self.requested, model, self.setting, learnable_only=False
        )
        return self.connections

    def draw(self, weight: Tensor) -> Tensor:
        """One noise sample shaped like ``weight`` from the callback's generator."""
        sample = torch.randn(weight.shape, generator=self._generator, dtype=torch.float32)
        return sample.to(device=weight.device, dtype=weight.dtype)

    def attach(self, model: Any) -> None:
        """Install the noise transform on each selected connection."""
        stack = transform_stack(model)
        for name in self.check_model(model):
            stack.add(self.owner, ORDER_NOISE, self._transform_for(model, name), [name])
        self._model = model

    def _transform_for(self, model: Any, name: str):
        def add_noise(weight: Tensor) -> Tensor:
            if not model.training or self.std == 0.0:
                return weight
            std = noise_std(weight, self.std, self.relative)
            self.last_std[name] = std
            return weight + std * self.draw(weight)

        return add_noise

    def detach(self) -> None:
        """Remove the noise transform."""
        if self._model is not None:
            transform_stack(self._model).remove(self.owner)
            self._model = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage == "fit":
            self.attach(unwrap_model(pl_module))

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self.detach()

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        for name, std in self.last_std.items():
            pl_module.log(
                f"callbacks/connection_noise/{name}_std", std, on_step=True, on_epoch=False
            )
