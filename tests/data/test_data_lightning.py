"""SOENDataModule inside a real Lightning Trainer: checkpointed scaling and resumable order."""

from __future__ import annotations

import lightning as L
import numpy as np
import torch

from soen_train.data import SOENDataModule


class RecordingModel(L.LightningModule):
    """A linear classifier on flattened sequences that records the batches it trains on."""

    def __init__(self, steps: int, features: int, classes: int) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(steps * features, classes)
        self.seen: dict = {}

    def training_step(self, batch, batch_idx):
        x, y = batch
        self.seen.setdefault(self.current_epoch, []).append(x[:, 0, 0].clone())
        return torch.nn.functional.cross_entropy(self.layer(x.flatten(1)), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", torch.nn.functional.cross_entropy(self.layer(x.flatten(1)), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def trainer(root, epochs):
    return L.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=root,
        num_sanity_val_steps=0,
        callbacks=[L.pytorch.callbacks.ModelCheckpoint(dirpath=root / "ckpt", save_last=True)],
    )


def test_scaling_travels_with_the_checkpoint_and_resume_keeps_the_batch_order(
    tmp_path, split_arrays, write_h5
):
    path = write_h5(tmp_path / "a.h5", split_arrays({"train": 12, "val": 4, "test": 4}, seed=1))
    options = {"batch_size": 5, "min_scale": 0.0, "max_scale": 1.0, "shuffle_seed": 11}

    torch.manual_seed(0)
    dm = SOENDataModule(path, **options)
    straight = RecordingModel(6, 2, 3)
    trainer(tmp_path / "straight", 3).fit(straight, datamodule=dm)

    dm_first = SOENDataModule(path, **options)
    first = RecordingModel(6, 2, 3)
    trainer(tmp_path / "resumed", 2).fit(first, datamodule=dm_first)
    ckpt = tmp_path / "resumed" / "ckpt" / "last.ckpt"
    saved = torch.load(ckpt, weights_only=False)["SOENDataModule"]
    assert (saved["scaling"]["lo"], saved["scaling"]["hi"]) == dm_first.scaling

    # resume on a file with other statistics: the checkpoint's scaling wins
    other = split_arrays({"train": 12, "val": 4, "test": 4}, seed=1)
    other["train/data"][0, 0, 0] = 50.0
    other_path = write_h5(tmp_path / "b.h5", other)
    dm_resumed = SOENDataModule(other_path, **options)
    resumed = RecordingModel(6, 2, 3)
    trainer(tmp_path / "resumed", 3).fit(resumed, datamodule=dm_resumed, ckpt_path=ckpt)
    assert dm_resumed.scaling == dm_first.scaling
    assert list(resumed.seen) == [2]
    # epoch 2 sees the same batches in the same order as the uninterrupted run
    # (the one altered sample is scaled with the stored statistics, so compare the others)
    for a, b in zip(straight.seen[2], resumed.seen[2]):
        keep = b < 1.5
        assert torch.equal(a[keep], b[keep])
    assert [len(b) for b in resumed.seen[2]] == [5, 5, 2]
    lo, hi = dm_first.scaling
    expected = (other["val/data"] - lo) / (hi - lo + 1e-8)
    np.testing.assert_allclose(
        dm_resumed.dataset("val").inputs.numpy(), expected, rtol=1e-5, atol=1e-6
    )
