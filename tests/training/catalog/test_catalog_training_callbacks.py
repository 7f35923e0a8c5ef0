"""LRSchedulerCallback and LossWeightSchedulerCallback inside a real Lightning Trainer.

A tiny LightningModule (a 2x2 linear classifier on 8 fixed samples, 4 batches per epoch)
trains with a WeightedLoss; we check the LR and the loss weights used at every optimiser
step, the logged tags in the CSV log, and that a resumed run continues the schedule.
"""

import csv
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader, TensorDataset

from soen_train.training.loss_weight_schedules import LossWeightSchedulerCallback
from soen_train.training.losses import LossContext, WeightedLoss
from soen_train.training.lr_schedules import LRSchedulerCallback
from soen_train.training.optimizers import build_optimizer

torch.set_num_threads(1)


class TinyClassifier(pl.LightningModule):
    """Linear 2-class model trained with a WeightedLoss; records LR and weights per step."""

    def __init__(self, losses, param_groups=(), val_losses=None):
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Linear(2, 2)
        self.weighted = WeightedLoss(losses)
        self.param_groups = param_groups
        self.val_losses = val_losses or {}
        self.seen_lr, self.seen_group_lrs, self.seen_weights = [], [], []

    def training_step(self, batch, batch_idx):
        x, y = batch
        out = self.net(x)
        total, _terms = self.weighted(LossContext(outputs=out, targets=y, pooled=out))
        self.seen_weights.append(self.weighted.weights)
        return total

    def validation_step(self, batch, batch_idx):
        value = self.val_losses.get(self.current_epoch, 1.0)
        self.log("val_loss", value, on_epoch=True, batch_size=len(batch[0]))

    def on_before_optimizer_step(self, optimizer):
        self.seen_group_lrs.append([g["lr"] for g in optimizer.param_groups])
        self.seen_lr.append(optimizer.param_groups[-1]["lr"])

    def configure_optimizers(self):
        return build_optimizer("sgd", self.named_parameters(), lr=0.05, param_groups=self.param_groups)


def loader():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(8, 2, generator=gen)
    y = (x[:, 0] > 0).long()
    return DataLoader(TensorDataset(x, y), batch_size=2)


def trainer(tmp_path, callbacks, max_epochs=2, validate=False, max_steps=-1):
    return pl.Trainer(
        max_epochs=max_epochs, max_steps=max_steps, accelerator="cpu", callbacks=callbacks, logger=CSVLogger(tmp_path, name="logs"),
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0, log_every_n_steps=1, limit_val_batches=1 if validate else 0,
    )


def logged(tmp_path):
    files = list(Path(tmp_path).rglob("metrics.csv"))
    rows = []
    for f in files:
        with open(f) as fh:
            rows += list(csv.DictReader(fh))
    return rows


def test_lr_set_before_every_step_with_group_ratios_and_logged(tmp_path):
    module = TinyClassifier([{"name": "cross_entropy"}], param_groups=[{"match": "bias", "lr": 0.1}])
    cb = LRSchedulerCallback("linear", {"max_lr": 0.1, "min_lr": 0.01})
    trainer(tmp_path, [cb]).fit(module, loader())
    expected = [0.1 - s / 8 * 0.09 for s in range(8)]  # N = 2 epochs x 4 steps, no lag
    assert module.seen_lr == pytest.approx(expected)
    # the bias group keeps twice the base LR (0.1 / 0.05)
    assert [g[0] for g in module.seen_group_lrs] == pytest.approx([2 * v for v in expected])
    lr_rows = [float(r["lr"]) for r in logged(tmp_path) if r.get("lr")]
    assert lr_rows == pytest.approx(expected)


def test_loss_weight_schedules_per_step_and_per_epoch(tmp_path):
    losses = [{"name": "cross_entropy"}, {"name": "gap_loss", "weight": 5.0}, {"name": "top_gap_loss"}]
    module = TinyClassifier(losses)
    schedules = [
        {"loss_name": "gap_loss", "scheduler_type": "linear", "params": {"min_weight": 0.0, "max_weight": 0.7}},
        {"loss_name": "top_gap_loss", "scheduler_type": "cosine", "per_step": False,
         "params": {"initial_weight": 1.0, "final_weight": 0.0}},
    ]
    cb = LossWeightSchedulerCallback(schedules, module.weighted)
    trainer(tmp_path, [cb]).fit(module, loader())
    # per step over epochs 0..1 (4 steps each): s0 = 0, s1 = 7
    assert [w["gap_loss"] for w in module.seen_weights] == pytest.approx([0.1 * s for s in range(8)])
    # per epoch over epochs 0..1: weight 1 in epoch 0, 0 in epoch 1
    assert [w["top_gap_loss"] for w in module.seen_weights] == pytest.approx([1.0] * 4 + [0.0] * 4, abs=1e-12)
    assert all(w["cross_entropy"] == 1.0 for w in module.seen_weights)
    rows = logged(tmp_path)
    step_tags = [float(r["callbacks/loss_weight_gap_loss"]) for r in rows if r.get("callbacks/loss_weight_gap_loss")]
    assert step_tags == pytest.approx([0.1 * s for s in range(8)])
    epoch_tags = [float(r["callbacks/loss_weight_top_gap_loss"]) for r in rows if r.get("callbacks/loss_weight_top_gap_loss")]
    assert epoch_tags == pytest.approx([1.0, 0.0], abs=1e-12)


def test_greedy_state_survives_a_checkpoint_resume(tmp_path):
    val = {0: 1.0, 1: 2.0, 2: 3.0}  # improves once, then only gets worse
    params = {"max_lr": 0.08, "min_lr": 1e-3, "patience": 1, "factor_decrease": 0.5}
    metrics = ["val_loss"]
    first = TinyClassifier([{"name": "cross_entropy"}], val_losses=val)
    cb = LRSchedulerCallback("greedy", params, available_metrics=metrics)
    t1 = trainer(tmp_path / "a", [cb], max_epochs=2, validate=True)
    t1.fit(first, loader(), loader())
    # epoch 0 at max_lr; after epoch 1's worse val_loss the LR halves
    assert first.seen_lr == pytest.approx([0.08] * 8)
    assert cb.schedule.current_lr == pytest.approx(0.04)
    ckpt = tmp_path / "last.ckpt"
    t1.save_checkpoint(ckpt)
    saved = torch.load(ckpt, weights_only=False)["callbacks"]
    (state,) = [v for k, v in saved.items() if "LRSchedulerCallback" in k]
    assert state["type"] == "greedy" and state["state"]["current_lr"] == pytest.approx(0.04)

    resumed = TinyClassifier([{"name": "cross_entropy"}], val_losses=val)
    cb2 = LRSchedulerCallback("greedy", params, available_metrics=metrics)
    trainer(tmp_path / "b", [cb2], max_epochs=3, validate=True).fit(resumed, loader(), loader(), ckpt_path=ckpt)
    assert resumed.seen_lr == pytest.approx([0.04] * 4)
    assert cb2.schedule.current_lr == pytest.approx(0.02)


def test_pure_schedule_continues_from_the_restored_step(tmp_path):
    params = {"max_lr": 0.1, "min_lr": 0.01}
    first = TinyClassifier([{"name": "cross_entropy"}])
    # a 2-epoch run interrupted after its first epoch (4 steps)
    t1 = trainer(tmp_path / "a", [LRSchedulerCallback("linear", params)], max_epochs=2, max_steps=4)
    t1.fit(first, loader())
    ckpt = tmp_path / "e1.ckpt"
    t1.save_checkpoint(ckpt)
    resumed = TinyClassifier([{"name": "cross_entropy"}])
    t2 = trainer(tmp_path / "b", [LRSchedulerCallback("linear", params)], max_epochs=2)
    t2.fit(resumed, loader(), ckpt_path=ckpt)
    assert first.seen_lr == pytest.approx([0.1 - s / 8 * 0.09 for s in range(4)])
    assert resumed.seen_lr == pytest.approx([0.1 - s / 8 * 0.09 for s in range(4, 8)])


def test_callback_errors():
    with pytest.raises(ValueError, match=r"unknown lr scheduler 'rexx' \(did you mean 'rex'\?\)"):
        LRSchedulerCallback("rexx")
    with pytest.raises(ValueError, match=r"unknown parameter 'max_lrr'"):
        LRSchedulerCallback("rex", {"max_lrr": 1e-3})
    with pytest.raises(ValueError, match="monitor_metric 'val_loss' is not a logged metric"):
        LRSchedulerCallback("greedy", {}, available_metrics=["val_accuracy"])
