"""`SOENLightningModule`: forward, time pooling, weighted losses and epoch metrics, and the
fast loop that trains a whole epoch in one Lightning step where the run allows it
(`training/fast_loop.py` has the rules).

Plain Lightning, no Hydra: it is built from a SOENModel and plain settings, so it can be used
from a notebook as well as from the `soen-train` runner.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence

import lightning.pytorch as pl
import torch
from torch import Tensor

from soen_train.errors import NonFiniteLossError
from soen_train.loop_policy.step_logging import logs_step
from soen_train.training import fast_loop as fast
from soen_train.training.alignment import AlignedBatch, align, cat_or_none, detach_cpu
from soen_train.training.losses import LossContext, WeightedLoss
from soen_train.training.metrics import compute_metrics
from soen_train.training.optimizers import build_optimizer
from soen_train.training.rank_sync import gather_samples, global_means

#: Checkpoint key: how far the fast loop got into the epoch a checkpoint was written in.
FAST_LOOP_KEY = "soen_fast_loop_epoch"


def tbptt_chunk_count(length: int, steps: int, stride: int) -> int:
    """Chunks (= optimiser steps) per batch: starts 0, stride, ... until a chunk reaches the end."""
    return 1 + math.ceil(max(0, length - steps) / stride)


class SOENLightningModule(pl.LightningModule):
    """Trains a SOEN model: pooled (or per-step) outputs against targets with weighted losses."""

    def __init__(
        self,
        model: torch.nn.Module,
        losses: Sequence[Mapping[str, Any]],
        mapping: str = "seq2static",
        paradigm: str = "supervised",
        pooling_name: str = "max",
        pooling_params: Optional[Mapping[str, Any]] = None,
        optimizer: Optional[Mapping[str, Any]] = None,
        metrics: Sequence[str] = ("accuracy",),
        log_freq: int = 50,
        alternate_losses: bool = False,
        batches_per_loss: int = 1,
        tbptt_steps: Optional[int] = None,
        tbptt_stride: Optional[int] = None,
        gradient_clip_val: Optional[float] = None,
        gradient_clip_algorithm: str = "norm",
        fast_loop: bool = True,
    ) -> None:
        super().__init__()
        self.model = model
        self.loss = WeightedLoss(list(losses))
        self.mapping = mapping
        self.paradigm = paradigm
        self.pooling_name = pooling_name
        # a live dict: the pooling-scale scheduler changes `scale` in place
        self.pooling_params: Dict[str, Any] = dict(pooling_params or {"scale": 1.0})
        self.optimizer_spec = dict(optimizer or {"name": "adamw", "lr": 1e-3})
        self.metric_names = list(metrics)
        self.log_freq = log_freq
        self.alternate_losses = alternate_losses
        self.batches_per_loss = batches_per_loss
        # truncated BPTT: one optimiser step per chunk, states carried (detached) between chunks
        self.tbptt_steps = tbptt_steps
        self.tbptt_stride = tbptt_stride or tbptt_steps
        self.gradient_clip_val = gradient_clip_val
        self.gradient_clip_algorithm = gradient_clip_algorithm
        if tbptt_steps:
            self.automatic_optimization = False
        # soen-train's own loop over an epoch's batches (training/fast_loop.py) where the run
        # allows it; the reasons it does not are kept here at fit start
        self.fast_loop = fast_loop
        self.fast_loop_blockers: List[str] = []
        self._fast_loop_on = False
        # training batches of the current epoch done by the fast loop (None between epochs),
        # kept in checkpoints so that a resume mid-epoch goes on after them
        self._epoch_steps_done: Dict[str, Optional[int]] = {"count": None}
        self._resume_epoch_steps: Optional[Dict[str, int]] = None
        self._muted_warnings = fast.MutedWarnings()
        # stateful training and monitoring callbacks read every layer's states from here
        self.pending_initial_states: Optional[Dict[Any, Tensor]] = None
        self.keep_simulation = False
        self.last_simulation: Any = None
        # stage -> tag -> (sum of value x batch size, samples), logged at the stage's epoch end
        self._epoch_sums: Dict[str, Dict[str, tuple]] = {}
        self._epoch_outputs: Dict[str, List[Tensor]] = {}
        self._epoch_targets: Dict[str, List[Tensor]] = {}

    # ------------------------------------------------------------------ forward
    def forward(self, x: Tensor) -> Tensor:
        """Output history [B, T+1, C] of the SOEN model for inputs x [B, T, D]."""
        return self.model(x)

    def _simulate(self, x: Tensor) -> tuple:
        """Run the model; keep every layer's history only when a loss needs it."""
        initial = self.pending_initial_states
        self.pending_initial_states = None
        needs = self.loss.needs
        if self.keep_simulation or self.tbptt_steps or needs & {"sim", "track_g"}:
            sim = self.model.simulate(x, initial_states=initial, track_g="track_g" in needs)
            self.last_simulation = sim
            return sim.output, sim
        self.last_simulation = None
        return self.model(x, initial_states=initial), None

    def _step(self, batch: Sequence[Tensor], stage: str) -> tuple:
        x, y = batch[0], (batch[1] if len(batch) > 1 else None)
        history, sim = self._simulate(x)
        aligned = align(history, y, x, self.mapping, self.paradigm, self.pooling_name, self.pooling_params)
        ctx = LossContext(
            outputs=aligned.outputs,
            targets=aligned.targets,
            pooled=aligned.pooled,
            pooling_scale=float(self.pooling_params.get("scale", 1.0)),
            model=self.model,
            inputs=x,
            sim=sim,
            forward=self._forward_for_loss,
        )
        only = None
        if self.alternate_losses and stage == "train" and len(self.loss.term_names) > 1:
            idx = (self.global_step // self.batches_per_loss) % len(self.loss.term_names)
            only = self.loss.term_names[idx]
        total, terms = self.loss(ctx, only=only) if only else self.loss(ctx)
        # on the CPU a finiteness test costs nothing; on an accelerator it would wait for the
        # device every step, so there the epoch's running loss sum is tested at log steps
        if total.device.type == "cpu" and not math.isfinite(total.item()):
            raise self._non_finite(stage, total, terms)
        return total, terms, aligned

    def _non_finite(self, stage: str, total: Tensor, terms: Mapping[str, Tensor]) -> NonFiniteLossError:
        """The error for a non-finite loss, naming the terms that are (or overflow once weighted)."""
        weights = self.loss.weights
        bad = [k for k, v in terms.items() if not torch.isfinite(v)]
        bad += [
            f"{k} (x weight {weights[k]:g})"
            for k, v in terms.items()
            if k not in bad and not torch.isfinite(v * weights.get(k, 1.0))
        ]
        return NonFiniteLossError(
            f"{stage} loss became {total.item()} at epoch {self.current_epoch}, "
            f"step {self.global_step} (non-finite terms: {', '.join(bad) or 'total'}); "
            "lower training.lr, set training.gradient_clip_val, or check the data"
        )

    def _check_running_loss(self, stage: str) -> None:
        """Accelerators: a NonFiniteLossError if any loss of this epoch so far was non-finite
        (a NaN or Inf makes the running sum NaN or Inf; one device wait per check)."""
        running = self._epoch_sums.get(stage, {}).get(f"{stage}_loss")
        if running is None or not isinstance(running[0], Tensor) or running[0].device.type == "cpu":
            return
        if not torch.isfinite(running[0]):
            raise NonFiniteLossError(
                f"{stage} loss became {running[0].item()} at epoch {self.current_epoch}, "
                f"at or before step {self.global_step}; lower training.lr, set "
                "training.gradient_clip_val, or check the data"
            )

    def _forward_for_loss(self, x: Tensor) -> Any:
        return self.model.simulate(x)

    # ------------------------------------------------------------------ steps
    def training_step(self, batch: Sequence[Tensor], batch_idx: int) -> Tensor:
        if self.tbptt_steps:
            return self._tbptt_step(batch, batch_idx)
        return self._train_batch(batch)

    def _train_batch(self, batch: Sequence[Tensor]) -> Tensor:
        """Forward and loss of one training batch: its epoch sums, its outputs for the epoch
        metrics and, at log steps, ``train_loss_step``."""
        total, terms, aligned = self._step(batch, "train")
        bs = batch[0].shape[0]
        self._accumulate("train", "train_loss", total, bs)
        if len(terms) > 1:
            for name, value in terms.items():
                self._accumulate("train", f"train_loss/{name}", value, bs)
        self._log_step_loss(total)
        self._collect("train", aligned)
        return total

    def _log_step_loss(self, total: Tensor) -> None:
        """``train_loss_step`` of this optimiser step, straight to the loggers at the steps of
        ``loop_policy.step_logging`` (`self.log` would cost about a millisecond per call)."""
        step = self.global_step
        if self._trainer is None or not logs_step(step, self.log_freq):
            return
        from soen_train.training.callbacks.log_writers import log_scalars_now

        self._check_running_loss("train")
        values = {"train_loss_step": float(total.detach()), "epoch": float(self.current_epoch)}
        log_scalars_now(self.trainer, values, step)

    # ------------------------------------------------------------------ the fast loop
    def on_fit_start(self) -> None:
        """Train with the fast loop (training/fast_loop.py) unless the run needs Lightning's."""
        self._use_lightning_loop()
        if not self.fast_loop:
            self.fast_loop_blockers = ["training.fast_loop is false"]
            return
        self.fast_loop_blockers = fast.fast_loop_blockers(self.trainer, self, SOENLightningModule)
        if self.fast_loop_blockers:
            return
        fast.align_step_counters(self.trainer)
        self.automatic_optimization = False
        # an instance attribute: Lightning hands a step with a `dataloader_iter` argument the
        # epoch's batch iterator instead of one batch
        self.training_step = self._train_epoch  # type: ignore[method-assign]
        self._fast_loop_on = True
        self._muted_warnings.start()

    def on_fit_end(self) -> None:
        self._use_lightning_loop()

    @property
    def training_loop(self) -> str:
        """Which loop the last fit ran: "fast", or "lightning: " and why it had to."""
        return "lightning: " + "; ".join(self.fast_loop_blockers) if self.fast_loop_blockers else "fast"

    def log(self, name: str, value: Any, *args: Any, **kwargs: Any) -> None:
        """Lightning's ``log``. In the fast loop Lightning cannot read a batch size from the
        step's batch iterator; the values logged then (from epoch hooks) count once each."""
        if self._fast_loop_on and kwargs.get("batch_size") is None:
            kwargs["batch_size"] = 1
        super().log(name, value, *args, **kwargs)

    def _use_lightning_loop(self) -> None:
        self._muted_warnings.stop()
        if self._fast_loop_on:
            del self.training_step
            self.automatic_optimization = True
            self._fast_loop_on = False

    def _train_epoch(self, dataloader_iter: Iterator) -> None:
        """All training batches of an epoch, each as Lightning's automatic optimisation runs
        one: forward and loss, zero_grad, backward, on_before_optimizer_step hooks, clipping,
        the optimiser step, the model's constraints; Lightning's step counters follow."""
        self._muted_warnings.stop()
        trainer = self.trainer
        optimizer = trainer.optimizers[0]
        before_step = fast.before_step_callbacks(trainer)
        step_end = fast.step_end_callbacks(trainer)
        resumed, self._resume_epoch_steps = self._resume_epoch_steps, None
        skip = resumed["steps_done"] if resumed and resumed["epoch"] == self.current_epoch else 0
        done = self._epoch_steps_done  # a dict: nn.Module's __setattr__ costs per step
        done["count"] = skip
        batches = fast.epoch_batches(trainer, self, dataloader_iter, skip)
        for index, (batch, batch_idx) in enumerate(batches):
            if index:
                fast.count_logged_batch(trainer)
            total = self._train_batch(batch)
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            for callback in before_step:
                callback.on_before_optimizer_step(trainer, self, optimizer)
            if trainer.gradient_clip_val:
                self.clip_gradients(optimizer)
            optimizer.step()
            fast.count_optimizer_step(trainer)
            self.model.enforce_constraints()
            done["count"] = batch_idx + 1
            for callback in step_end:
                callback.on_train_batch_end(trainer, self, None, batch, batch_idx)
        if dataloader_iter.done:  # not stopped early (SIGTERM, max_steps): the epoch is whole
            done["count"] = None

    def on_save_checkpoint(self, checkpoint: Dict[str, Any]) -> None:
        steps_done = self._epoch_steps_done["count"]
        if steps_done is not None:
            checkpoint[FAST_LOOP_KEY] = {"epoch": self.current_epoch, "steps_done": steps_done}

    def on_load_checkpoint(self, checkpoint: Dict[str, Any]) -> None:
        saved = checkpoint.get(FAST_LOOP_KEY)
        self._resume_epoch_steps = dict(saved) if isinstance(saved, dict) else None

    def _accumulate(self, stage: str, tag: str, value: Tensor, batch_size: int) -> None:
        """Batch-size-weighted epoch mean, kept on the device and logged once at epoch end
        (one `self.log` per step would cost as much as a small SOEN's training step)."""
        sums = self._epoch_sums.setdefault(stage, {})
        total, count = sums.get(tag, (0.0, 0))
        sums[tag] = (total + value.detach() * batch_size, count + batch_size)

    def _log_epoch_means(self, stage: str) -> None:
        """Log the epoch means of ``stage`` over every sample of all processes (under DDP the
        processes' sums and counts are added, so the mean equals a single-process pass)."""
        self._check_running_loss(stage)
        sums = self._epoch_sums.pop(stage, {})
        if self._distributed:
            means = global_means({tag: (float(t), n) for tag, (t, n) in sums.items()})
        else:
            means = {tag: float(t / n) for tag, (t, n) in sums.items()}
        for tag, value in means.items():
            # the same value on every process (sync_dist's mean leaves it as it is)
            shown = tag in ("train_loss", "val_loss", "test_loss")
            self.log(tag, value, prog_bar=shown, sync_dist=self._distributed)

    def _tbptt_step(self, batch: Sequence[Tensor], batch_idx: int) -> Tensor:
        """Chunk the sequence; forward each chunk from the previous chunk's (detached) states,
        then backward and an optimiser step per chunk, so memory grows with the chunk only."""
        x, y = batch[0], (batch[1] if len(batch) > 1 else None)
        opt = self.optimizers()
        steps, stride, length = int(self.tbptt_steps), int(self.tbptt_stride), x.shape[1]
        carried = self.pending_initial_states
        self.pending_initial_states = None
        totals = []
        for start in range(0, length, stride):
            end = min(start + steps, length)
            chunk_y = y[:, start:end] if (y is not None and y.dim() >= 2 and y.shape[1] == length) else y
            self.pending_initial_states = carried
            total, _, _ = self._step((x[:, start:end], chunk_y) if chunk_y is not None else (x[:, start:end],), "train")
            opt.zero_grad(set_to_none=True)
            self.manual_backward(total)
            if self.gradient_clip_val:
                self.clip_gradients(opt, self.gradient_clip_val, self.gradient_clip_algorithm)
            opt.step()
            self.model.enforce_constraints()
            carried = self._states_after(min(stride, end - start))
            totals.append(total.detach())
            if end == length:
                break
        mean = torch.stack(totals).mean()
        self._accumulate("train", "train_loss", mean, x.shape[0])
        return mean

    def _states_after(self, steps: int) -> Dict[Any, Tensor]:
        """Every layer's state after `steps` steps of the last chunk, detached (TBPTT carry)."""
        sim = self.last_simulation
        if steps == sim.output.shape[1] - 1:
            return {k: v.detach() for k, v in sim.final_states().items()}
        if sim.aux_final:
            raise ValueError(
                "overlapping TBPTT chunks (tbptt_stride < tbptt_steps) cannot carry the "
                "auxiliary s1/s2 states of MultiplierNOCC layers; use tbptt_stride = tbptt_steps"
            )
        return {k: v[:, steps].detach() for k, v in sim.states.items()}

    def validation_step(self, batch: Sequence[Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def test_step(self, batch: Sequence[Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def _eval_step(self, batch: Sequence[Tensor], stage: str) -> None:
        total, terms, aligned = self._step(batch, stage)
        bs = batch[0].shape[0]
        self._accumulate(stage, f"{stage}_loss", total, bs)
        if len(terms) > 1:
            for name, value in terms.items():
                self._accumulate(stage, f"{stage}_loss/{name}", value, bs)
        self._collect(stage, aligned)

    # ------------------------------------------------------------------ metrics
    def _collect(self, stage: str, aligned: AlignedBatch) -> None:
        if not self.metric_names or aligned.targets is None:
            return
        # kept on the device (a copy to the host would wait for it every step); the epoch's
        # batches go to the host together at epoch end
        self._epoch_outputs.setdefault(stage, []).append(aligned.outputs.detach())
        self._epoch_targets.setdefault(stage, []).append(aligned.targets.detach())

    @property
    def _distributed(self) -> bool:
        return self._trainer is not None and self.trainer.world_size > 1

    def _log_epoch_metrics(self, stage: str) -> None:
        outputs = detach_cpu(cat_or_none(self._epoch_outputs.pop(stage, [])))
        targets = detach_cpu(cat_or_none(self._epoch_targets.pop(stage, [])))
        if self._distributed and self.metric_names:
            # every process saw its own block of samples (sizes differ by up to one, some may
            # be empty): metrics are computed on all blocks together
            outputs, targets = gather_samples(outputs, targets)
        if outputs is None or targets is None:
            return
        values = compute_metrics(self.metric_names, outputs, targets)
        for name, value in values.items():
            if value is not None and math.isfinite(float(value)):
                self.log(
                    f"{stage}_{name}", float(value), prog_bar=(name == "accuracy"),
                    sync_dist=self._distributed,
                )

    def on_train_epoch_start(self) -> None:
        self._forget("train")

    def on_train_epoch_end(self) -> None:
        self._log_epoch_means("train")
        self._log_epoch_metrics("train")

    def on_validation_epoch_start(self) -> None:
        # before validation, and so before its checkpoint, of weights a non-finite loss spoilt
        self._check_running_loss("train")
        self._forget("val")

    def on_validation_epoch_end(self) -> None:
        self._log_epoch_means("val")
        self._log_epoch_metrics("val")

    def on_test_epoch_start(self) -> None:
        self._forget("test")

    def on_test_epoch_end(self) -> None:
        self._log_epoch_means("test")
        self._log_epoch_metrics("test")

    def _forget(self, stage: str) -> None:
        """Drop what an interrupted earlier pass of ``stage`` left behind."""
        for store in (self._epoch_outputs, self._epoch_targets, self._epoch_sums):
            store.pop(stage, None)

    # ------------------------------------------------------------------ optimisation
    def configure_optimizers(self) -> torch.optim.Optimizer:
        spec = self.optimizer_spec
        return build_optimizer(
            spec["name"],
            [(n, p) for n, p in self.model.named_parameters() if p.requires_grad],
            lr=float(spec["lr"]),
            kwargs=dict(spec.get("kwargs") or {}),
            param_groups=list(spec.get("param_groups") or []),
        )

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        # hardware limits (coupling bounds, masks) hold after every optimiser step
        self.model.enforce_constraints()
