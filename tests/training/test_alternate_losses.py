"""training.alternate_losses: one loss term per optimiser step, cycling through the terms."""

import lightning.pytorch as pl
import torch
from test_tbptt import ARCH, FirstStepGrads, _data
from torch.utils.data import DataLoader, TensorDataset

from soen_train.model import SOENModel
from soen_train.training.losses import LossContext, WeightedLoss
from soen_train.training.module import SOENLightningModule
from soen_train.training.time_pooling import pool_time

LOSSES = [{"name": "reg_J_loss", "params": {"threshold": 0.0}}, {"name": "cross_entropy"}]


def test_first_step_uses_only_the_first_term():
    x, y = _data()
    module = SOENLightningModule(SOENModel.from_yaml(ARCH, seed=3), LOSSES, pooling_name="final",
                                 optimizer={"name": "sgd", "lr": 0.1}, metrics=[],
                                 alternate_losses=True, batches_per_loss=1)
    grabber = FirstStepGrads()
    trainer = pl.Trainer(max_epochs=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, callbacks=[grabber])
    trainer.fit(module, DataLoader(TensorDataset(x, y), batch_size=4))
    assert grabber.steps == 2

    reference = SOENModel.from_yaml(ARCH, seed=3)
    pooled = pool_time(reference(x[:4])[:, 1:], "final", {"scale": 1.0})
    ctx = LossContext(outputs=pooled, targets=y[:4], pooled=pooled, pooling_scale=1.0,
                      model=reference, inputs=x[:4], sim=None, forward=None)
    total, _ = WeightedLoss(LOSSES[:1])(ctx)
    total.backward()
    for name, p in reference.named_parameters():
        got = grabber.grads.get(name)
        if p.grad is None:
            assert got is None or torch.count_nonzero(got) == 0, name
        else:
            assert torch.allclose(got, p.grad, atol=1e-7), name
