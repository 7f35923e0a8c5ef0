"""TargetSeqLenScheduler, TimePoolingScaleScheduler: the value in force at epoch k, tags, state."""

from __future__ import annotations

import pytest
from callbacks_testkit import Probe, make_model, make_module, make_trainer, scalar_values

from soen_train.config.errors import ConfigError
from soen_train.data import SOENDataModule
from soen_train.training.callbacks import TargetSeqLenScheduler, TimePoolingScaleScheduler


def test_seq_len_applies_in_the_same_epoch_for_train_and_val(tmp_path, datamodule):
    scheduler = TargetSeqLenScheduler(start_len=4, end_len=8, scale_dt=True)
    lengths = {"train": {}, "val": {}}
    dts = {}

    def record(hook, trainer, module, batch, batch_idx, *rest):
        stage = "train" if hook == "on_train_batch_start" else "val"
        lengths[stage].setdefault(trainer.current_epoch, set()).add(batch[0].shape[1])
        dts[trainer.current_epoch] = module.model.dt

    probe = Probe(record, ["on_train_batch_start", "on_validation_batch_start"])
    module = make_module(make_model())
    dt0 = module.model.dt
    make_trainer(tmp_path, [scheduler, probe], max_epochs=3).fit(module, datamodule=datamodule)
    # end_epoch null = last epoch (2): 4, 4 + 1/2 * 4 = 6, 8 -- no one-epoch lag for training
    assert lengths["train"] == {0: {4}, 1: {6}, 2: {8}}
    assert lengths["val"] == {0: {4}, 1: {6}, 2: {8}}
    assert scalar_values(tmp_path, "callbacks/target_seq_len") == [4.0, 6.0, 8.0]
    # dt scaled so that length * dt stays 4 * dt0
    assert dts == pytest.approx({0: dt0, 1: dt0 * 4 / 6, 2: dt0 * 4 / 8})
    assert scalar_values(tmp_path, "callbacks/seq_len_scheduler/dt") == pytest.approx(
        [dt0, dt0 * 4 / 6, dt0 / 2]
    )


def test_seq_len_rounds_half_up_and_clamps():
    sched = TargetSeqLenScheduler(start_len=4, end_len=5, start_epoch=1, end_epoch=3)
    assert [sched.length_at(e, 10) for e in range(6)] == [4, 4, 5, 5, 5, 5]  # epoch 2: 4.5 -> 5
    with pytest.raises(ValueError, match="start_len"):
        TargetSeqLenScheduler(start_len=0, end_len=5)


def test_seq_len_with_workers_needs_loader_reload(tmp_path, dataset):
    dm = SOENDataModule(dataset, batch_size=4, num_workers=1, shuffle_seed=0)
    trainer = make_trainer(tmp_path, [TargetSeqLenScheduler(4, 8)])
    with pytest.raises(ConfigError, match="reload_dataloaders_every_n_epochs=1"):
        trainer.fit(make_module(make_model()), datamodule=dm)


def test_pooling_scale_at_epoch_k(tmp_path, datamodule):
    scheduler = TimePoolingScaleScheduler(start_scale=1.0, end_scale=3.0)
    seen = {}
    probe = Probe(
        lambda hook, tr, m, *a: seen.setdefault(tr.current_epoch, m.pooling_params["scale"]),
        ["on_train_batch_start"],
    )
    module = make_module(make_model())
    trainer = make_trainer(tmp_path, [scheduler, probe], max_epochs=3)
    trainer.fit(module, datamodule=datamodule)
    assert seen == pytest.approx({0: 1.0, 1: 2.0, 2: 3.0})
    assert scalar_values(tmp_path, "callbacks/time_pooling_scale") == pytest.approx([1.0, 2.0, 3.0])


def test_pooling_scale_is_restored_from_a_checkpoint(tmp_path, datamodule):
    first = TimePoolingScaleScheduler(start_scale=1.0, end_scale=3.0, end_epoch=2)
    trainer = make_trainer(tmp_path, [first], max_epochs=2)
    trainer.fit(make_module(make_model()), datamodule=datamodule)
    assert first.current_scale == pytest.approx(2.0)  # epoch 1 of the 0..2 ramp
    ckpt = tmp_path / "epoch2.ckpt"
    trainer.save_checkpoint(ckpt)

    resumed = TimePoolingScaleScheduler(start_scale=1.0, end_scale=3.0, end_epoch=2)
    fresh = make_module(make_model())
    make_trainer(tmp_path / "resume", [resumed], max_epochs=2).fit(
        fresh, datamodule=datamodule, ckpt_path=str(ckpt)
    )
    # restored, not recomputed for the resume epoch (which would give 3.0)
    assert resumed.current_scale == pytest.approx(2.0)
    assert fresh.pooling_params["scale"] == pytest.approx(2.0)


def test_pooling_scale_linear_between_epochs_and_bad_values():
    sched = TimePoolingScaleScheduler(start_scale=2.0, end_scale=1.0, start_epoch=2, end_epoch=6)
    assert [sched.scale_at(e, 100) for e in (0, 2, 3, 6, 9)] == pytest.approx(
        [2.0, 2.0, 1.75, 1.0, 1.0]
    )
    with pytest.raises(ValueError, match="end_scale"):
        TimePoolingScaleScheduler(start_scale=1.0, end_scale=0.0)
