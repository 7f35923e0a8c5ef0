"""StatefulTrainingCallback: carried state = previous batch's final state of the chosen sample."""

from __future__ import annotations

import pytest
import torch
from callbacks_testkit import BATCH, Probe, make_model, make_module, make_trainer

from soen_train.training.callbacks import StatefulTrainingCallback
from soen_train.training.callbacks.stateful_training import select_sample_states


class Recorder:
    """Per batch: the states handed to the forward and the finals it produced."""

    def __init__(self, stage: str) -> None:
        self.stage = stage
        self.pending = []
        self.finals = []
        self.initial_rows = []
        self.epochs = []

    def __call__(self, hook, trainer, module, *args):
        if hook == f"on_{self.stage}_batch_start":
            self.pending.append(module.pending_initial_states)
            self.epochs.append(trainer.current_epoch)
        else:
            sim = module.last_simulation
            self.finals.append({k: v.detach().clone() for k, v in sim.final_states().items()})
            self.initial_rows.append(
                {lid: h[:, 0].detach().clone() for lid, h in sim.states.items()}
            )


def _run(tmp_path, datamodule, callback, stage, max_epochs=1):
    rec = Recorder(stage)
    probe = Probe(rec, [f"on_{stage}_batch_start", f"on_{stage}_batch_end"])
    module = make_module(make_model())
    make_trainer(tmp_path, [callback, probe], max_epochs=max_epochs).fit(
        module, datamodule=datamodule
    )
    return rec


def test_training_carries_last_sample_final_states_including_nocc_branches(tmp_path, datamodule):
    rec = _run(
        tmp_path,
        datamodule,
        StatefulTrainingCallback(enable_for_training=True, sample_selection="last"),
        "train",
    )
    assert len(rec.pending) == 4
    assert rec.pending[0] is None  # the first batch of an epoch starts from rest
    for k in range(1, 4):
        carried = rec.pending[k]
        expected = {key: value[BATCH - 1] for key, value in rec.finals[k - 1].items()}
        assert set(carried) == {0, 1, 2, (2, "s1"), (2, "s2")}
        for key, value in expected.items():
            assert carried[key].shape == value.shape  # one [D] vector per layer / branch
            assert torch.equal(carried[key], value)
            assert not carried[key].requires_grad
        # the forward really started every sample from the carried states
        for lid in (1, 2):
            assert torch.allclose(rec.initial_rows[k][lid], expected[lid].expand(BATCH, -1))


def test_store_is_cleared_at_each_epoch_start(tmp_path, datamodule):
    rec = _run(
        tmp_path,
        datamodule,
        StatefulTrainingCallback(enable_for_training=True, sample_selection="first"),
        "train",
        2,
    )
    starts = [i for i, e in enumerate(rec.epochs) if i == 0 or rec.epochs[i - 1] != e]
    assert starts == [0, 4]
    assert all(rec.pending[i] is None for i in starts)
    assert torch.equal(rec.pending[5][1], rec.finals[4][1][0])


def test_random_selection_is_seeded(tmp_path, datamodule):
    callback = StatefulTrainingCallback(
        enable_for_training=True, sample_selection="random", seed=11
    )
    rec = _run(tmp_path, datamodule, callback, "train")
    gen = torch.Generator().manual_seed(11)
    indices = [int(torch.randint(BATCH, (1,), generator=gen)) for _ in range(4)]
    for k in range(1, 4):
        assert torch.equal(rec.pending[k][1], rec.finals[k - 1][1][indices[k - 1]])


def test_validation_switch_is_separate(tmp_path, datamodule):
    callback = StatefulTrainingCallback(enable_for_validation=True, sample_selection="first")
    rec_val = Recorder("validation")
    rec_train = Recorder("train")
    probes = [
        Probe(rec_val, ["on_validation_batch_start", "on_validation_batch_end"]),
        Probe(rec_train, ["on_train_batch_start", "on_train_batch_end"]),
    ]
    make_trainer(tmp_path, [callback, *probes]).fit(
        make_module(make_model()), datamodule=datamodule
    )
    assert all(p is None for p in rec_train.pending)
    assert rec_val.pending[0] is None and len(rec_val.pending) == 2
    assert torch.equal(rec_val.pending[1][2], rec_val.finals[0][2][0])


def test_select_sample_states_and_bad_selection():
    finals = {1: torch.arange(6.0).view(2, 3), (2, "s1"): torch.ones(2, 2)}
    picked = select_sample_states(finals, 1)
    assert torch.equal(picked[1], torch.tensor([3.0, 4.0, 5.0]))
    assert picked[(2, "s1")].shape == (2,)
    with pytest.raises(ValueError, match="sample_selection.*random, first, last"):
        StatefulTrainingCallback(enable_for_training=True, sample_selection="middle")
