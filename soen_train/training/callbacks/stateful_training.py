"""``StatefulTrainingCallback``: start each batch from where one sample of the previous ended.

A chip is not reset between inputs. With this callback, after every batch the final states
of one sample (every layer, plus the auxiliary ``s1``/``s2`` branch states of
MultiplierNOCC layers, as returned by ``SimulationResult.final_states()``) are kept, and
the next batch starts all its samples from them (the model broadcasts ``[D]`` states over
the batch). Stored states are detached: gradients never cross a batch boundary. The store
is cleared at the start of every epoch, so the first batch of an epoch starts from rest.
Training and validation keep separate stores and are switched on separately.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch

from soen_train.config.errors import ConfigError
from soen_train.training.losses.param_checks import check_bool, check_choice

SAMPLE_SELECTIONS = ("random", "first", "last")


def select_sample_states(final_states: Any, index: int) -> Any:
    """Row ``index`` of each batch-first tensor in ``final_states`` (nesting kept), detached."""
    if isinstance(final_states, torch.Tensor):
        if final_states.dim() == 0:
            return final_states.detach().clone()
        return final_states[index].detach().clone()
    if isinstance(final_states, dict):
        return {k: select_sample_states(v, index) for k, v in final_states.items()}
    if isinstance(final_states, (list, tuple)):
        return type(final_states)(select_sample_states(v, index) for v in final_states)
    return final_states


def batch_size_of(final_states: Any) -> int:
    """Batch size of the first tensor found in ``final_states``."""
    if isinstance(final_states, torch.Tensor):
        return int(final_states.shape[0])
    values = final_states.values() if isinstance(final_states, dict) else final_states
    for v in values:
        if isinstance(v, (torch.Tensor, dict, list, tuple)):
            return batch_size_of(v)
    raise ValueError("final_states() holds no tensors")


class StatefulTrainingCallback(pl.Callback):
    """Carries one sample's final states into the next batch, per stage (train / val)."""

    def __init__(
        self,
        enable_for_training: bool = False,
        enable_for_validation: bool = False,
        sample_selection: str = "random",
        seed: int | None = None,
        setting: str = "StatefulTrainingCallback",
    ) -> None:
        self.enabled = {
            "train": check_bool(setting, "enable_for_training", enable_for_training),
            "val": check_bool(setting, "enable_for_validation", enable_for_validation),
        }
        self.sample_selection = check_choice(
            setting, "sample_selection", sample_selection, SAMPLE_SELECTIONS
        )
        self.seed = int(seed if seed is not None else torch.initial_seed() % (2**63))
        self.setting = setting
        self._generator = torch.Generator().manual_seed(self.seed)
        self.stored: dict[str, Any | None] = {"train": None, "val": None}
        self.last_index: dict[str, int | None] = {"train": None, "val": None}
        self._previous_keep: bool | None = None

    def check_module(self, pl_module: Any) -> None:
        """Fail now unless the module can hand over pending states and keep its simulation."""
        missing = [
            a
            for a in ("pending_initial_states", "keep_simulation", "last_simulation")
            if not hasattr(pl_module, a)
        ]
        if missing:
            raise ConfigError(
                f"{self.setting}: the Lightning module lacks {', '.join(missing)}; stateful training "
                "needs a SOENLightningModule"
            )

    def pick_index(self, batch_size: int) -> int:
        """The sample whose states are carried: random (seeded), first or last."""
        if self.sample_selection == "first":
            return 0
        if self.sample_selection == "last":
            return batch_size - 1
        return int(torch.randint(batch_size, (1,), generator=self._generator))

    # ---------------------------------------------------------------- lifecycle
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self.check_module(pl_module)
        if self._previous_keep is None:
            self._previous_keep = bool(pl_module.keep_simulation)
        pl_module.keep_simulation = True

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self._previous_keep is not None:
            pl_module.keep_simulation = self._previous_keep
            self._previous_keep = None

    # ---------------------------------------------------------------- hand-over
    def _before_batch(self, stage: str, pl_module: Any) -> None:
        if self.enabled[stage] and self.stored[stage] is not None:
            pl_module.pending_initial_states = self.stored[stage]

    def _after_batch(self, stage: str, pl_module: Any) -> None:
        if not self.enabled[stage]:
            return
        sim = pl_module.last_simulation
        if sim is None:
            raise RuntimeError(
                f"{self.setting}: the module did not keep its simulation for this {stage} batch "
                "(keep_simulation must stay True while stateful training is on)"
            )
        finals = sim.final_states()
        index = self.pick_index(batch_size_of(finals))
        self.stored[stage] = select_sample_states(finals, index)
        self.last_index[stage] = index

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.stored["train"] = None

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.stored["val"] = None

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._before_batch("train", pl_module)

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        self._after_batch("train", pl_module)

    def on_validation_batch_start(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self._before_batch("val", pl_module)

    def on_validation_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self._after_batch("val", pl_module)
