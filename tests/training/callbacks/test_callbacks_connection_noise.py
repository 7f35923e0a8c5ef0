"""ConnectionNoiseCallback: seeded per-forward draws in training, none in evaluation, masks kept."""

from __future__ import annotations

import copy

import pytest
import torch
from callbacks_testkit import Probe, make_model, make_module, make_trainer, scalar_values

from soen_train.config.errors import ConfigError
from soen_train.training.callbacks import ConnectionNoiseCallback, QATStraightThroughCallback
from soen_train.training.losses.quantization import nearest_code, uniform_codebook


def _with_weight(model, name, weight):
    twin = copy.deepcopy(model)
    twin.set_weight_transform(None, connections=list(twin.connection_weights(learnable_only=False)))
    with torch.no_grad():
        twin.parameters_by_name()[f"connections.{name}"].copy_(weight)
    return twin.eval()


def test_training_forward_adds_seeded_draws_and_eval_is_clean():
    model = make_model()
    x = torch.rand(3, 6, 2)
    w = model.connection_weights()["1_to_1"].detach().clone()  # masked: zero diagonal
    clean = model.eval()(x).detach()
    noise = ConnectionNoiseCallback(["1_to_1"], std=0.05, seed=123)
    noise.attach(model)

    gen = torch.Generator().manual_seed(123)
    model.train()
    for _ in range(2):  # one fresh draw per forward pass
        expected_w = (w + 0.05 * torch.randn(w.shape, generator=gen)) * (w != 0)
        assert torch.allclose(model(x), _with_weight(model, "1_to_1", expected_w)(x), atol=1e-7)
    model.eval()
    assert torch.equal(model(x), clean)
    noise.detach()
    model.train()
    assert torch.equal(
        model(x), clean
    )  # no layer noise configured: training without the callback is clean


def test_relative_std_scales_with_mean_abs_weight():
    model = make_model()
    w = model.connection_weights()["0_to_1"].detach()
    noise = ConnectionNoiseCallback(["0_to_1"], std=0.5, relative=True, seed=0)
    noise.attach(model)
    model.train()
    model(torch.rand(2, 6, 2))
    assert noise.last_std["0_to_1"] == pytest.approx(0.5 * float(w.abs().mean()))


def test_noise_comes_after_qat_and_is_logged(tmp_path, datamodule):
    model = make_model()
    book = uniform_codebook(-0.24, 0.24, bits=2)
    qat = QATStraightThroughCallback(bits=2, connections=["0_to_1"])
    noise = ConnectionNoiseCallback(["0_to_1"], std=0.01, seed=7)
    checked = []

    def check(hook, trainer, module, *args):
        m = module.model
        x = torch.rand(2, 6, 2)
        w = m.connection_weights()["0_to_1"].detach()
        state = noise._generator.get_state()
        out = m(x)
        gen = torch.Generator()
        gen.set_state(state)
        expected = nearest_code(w, book) + 0.01 * torch.randn(w.shape, generator=gen)
        checked.append(torch.allclose(out, _with_weight(m, "0_to_1", expected)(x), atol=1e-7))

    make_trainer(tmp_path, [qat, noise, Probe(check, ["on_train_batch_end"])]).fit(
        make_module(model), datamodule=datamodule
    )
    assert checked and all(checked)
    assert len(scalar_values(tmp_path, "callbacks/connection_noise/0_to_1_std")) == 4


def test_same_seed_same_run_and_unknown_names():
    x = torch.rand(2, 6, 2)
    outs = []
    for seed in (1, 1, 2):
        model = make_model()
        ConnectionNoiseCallback(["0_to_1"], std=0.05, seed=seed).attach(model)
        outs.append(model.train()(x))
    assert torch.equal(outs[0], outs[1]) and not torch.equal(outs[0], outs[2])
    with pytest.raises(
        ConfigError,
        match=r"callbacks.connection_noise.*'1_to_3'.*valid names: 0_to_1, 1_to_1, 1_to_2",
    ):
        ConnectionNoiseCallback(
            ["1_to_3"], std=0.1, setting="callbacks.connection_noise"
        ).check_model(make_model())
    with pytest.raises(ValueError, match="std"):
        ConnectionNoiseCallback(["0_to_1"], std=-1.0)
