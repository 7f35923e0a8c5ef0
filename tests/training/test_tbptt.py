"""Truncated BPTT: chunked steps with carried, detached states."""

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from soen_train.model import SOENModel
from soen_train.training.module import SOENLightningModule, tbptt_chunk_count
from soen_train.training.time_pooling import pool_time

ARCH = {
    "simulation": {"dt": 200.0},
    "layers": [
        {"layer_id": 0, "layer_type": "Input", "params": {"dim": 2}},
        {
            "layer_id": 1,
            "layer_type": "SingleDendrite",
            "params": {
                "dim": 4,
                "source_func": "Heaviside_fit_state_dep",
                "gamma_plus": {"distribution": "constant", "params": {"value": 0.0005}},
            },
        },
        {"layer_id": 2, "layer_type": "Input", "params": {"dim": 3}},
    ],
    "connections": [
        {
            "from_layer": 0,
            "to_layer": 1,
            "connection_type": "all_to_all",
            "params": {"init": "uniform", "min": 0.0, "max": 0.24},
        },
        {
            "from_layer": 1,
            "to_layer": 1,
            "connection_type": "all_to_all",
            "params": {"init": "uniform", "min": -0.1, "max": 0.1},
        },
        {
            "from_layer": 1,
            "to_layer": 2,
            "connection_type": "all_to_all",
            "params": {"init": "xavier_uniform"},
        },
    ],
}


class FirstStepGrads(pl.Callback):
    """Records every parameter's gradient at the first optimiser step."""

    def __init__(self):
        self.grads = None
        self.steps = 0

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self.steps += 1
        if self.grads is None:
            self.grads = {
                n: p.grad.detach().clone()
                for n, p in pl_module.model.named_parameters()
                if p.grad is not None
            }


def _data(seed=0, n=8, t=32):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, t, 2, generator=g) * 2, torch.randint(0, 3, (n,), generator=g)


def test_chunk_count():
    assert tbptt_chunk_count(32, 8, 8) == 4
    assert tbptt_chunk_count(30, 8, 8) == 4
    assert tbptt_chunk_count(32, 8, 4) == 7
    assert tbptt_chunk_count(5, 8, 8) == 1


def test_first_chunk_gradient_equals_plain_bptt_on_that_chunk():
    x, y = _data()
    model = SOENModel.from_yaml(ARCH, seed=3)
    module = SOENLightningModule(
        model,
        [{"name": "cross_entropy"}],
        pooling_name="final",
        pooling_params={"scale": 5.0},
        optimizer={"name": "sgd", "lr": 0.1},
        metrics=[],
        tbptt_steps=8,
    )
    grabber = FirstStepGrads()
    trainer = pl.Trainer(
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        callbacks=[grabber],
        enable_model_summary=False,
    )
    trainer.fit(module, DataLoader(TensorDataset(x, y), batch_size=8))
    assert grabber.steps == 4  # one optimiser step per chunk of the 32-step sequence

    reference = SOENModel.from_yaml(ARCH, seed=3)
    logits = pool_time(reference(x[:, :8])[:, 1:], "final", {"scale": 5.0})
    F.cross_entropy(logits, y).backward()
    for name, p in reference.named_parameters():
        if p.grad is not None:
            assert torch.allclose(grabber.grads[name], p.grad, atol=1e-7), name


def test_states_are_carried_between_chunks():
    """The second chunk starts from the first chunk's final states, not from zeros."""
    x, y = _data(n=4, t=16)
    model = SOENModel.from_yaml(ARCH, seed=3)
    full = model.simulate(x)
    first = model.simulate(x[:, :8])
    second = model.simulate(x[:, 8:], initial_states=first.final_states())
    assert torch.allclose(second.states[1][:, -1], full.states[1][:, -1], atol=1e-6)
    cold = model.simulate(x[:, 8:])
    assert not torch.allclose(cold.states[1][:, -1], full.states[1][:, -1], atol=1e-6)
