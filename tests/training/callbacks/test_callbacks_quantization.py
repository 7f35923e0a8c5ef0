"""QAT (straight-through) and quantised accuracy against hand computations with snapped copies."""

from __future__ import annotations

import copy

import pytest
import torch
from callbacks_testkit import Probe, make_model, make_module, make_trainer, scalar_values

from soen_train.config.errors import ConfigError
from soen_train.training.callbacks import QATStraightThroughCallback, QuantizedAccuracyCallback
from soen_train.training.callbacks.quantization import stochastic_code
from soen_train.training.losses.quantization import nearest_code, uniform_codebook

BOOK = uniform_codebook(-0.24, 0.24, bits=2)  # [-0.24, -0.12, 0, 0.12, 0.24]


def _on_codebook(w: torch.Tensor, book: torch.Tensor = BOOK) -> torch.Tensor:
    return (w.reshape(-1, 1) - book.reshape(1, -1)).abs().min(dim=1).values < 1e-7


def _snapped_copy(model, names):
    twin = copy.deepcopy(model)
    twin.set_weight_transform(None, connections=list(twin.connection_weights(learnable_only=False)))
    params = twin.parameters_by_name()
    with torch.no_grad():
        for name in names:
            p = params[f"connections.{name}"]
            p.copy_(nearest_code(p, BOOK))
    return twin


def test_forward_sees_codebook_weights_while_stored_weights_do_not():
    model = make_model()
    x = torch.rand(3, 6, 2)
    qat = QATStraightThroughCallback(bits=2, min_val=-0.24, max_val=0.24)
    qat.attach(model)
    stored = model.parameters_by_name()["connections.0_to_1"]
    assert not _on_codebook(stored.detach()).all()  # full precision kept

    twin = _snapped_copy(model, ["0_to_1", "1_to_1", "1_to_2"])
    out = model(x)
    assert torch.equal(out, twin(x))  # the forward used the snapped values

    # straight-through: d loss / d w equals d loss / d q of the snapped network
    out.pow(2).sum().backward()
    twin(x).pow(2).sum().backward()
    for name in ("0_to_1", "1_to_1", "1_to_2"):
        g = model.parameters_by_name()[f"connections.{name}"].grad
        g_twin = twin.parameters_by_name()[f"connections.{name}"].grad
        assert torch.allclose(g, g_twin, atol=1e-7)

    qat.detach()
    assert not torch.equal(model(x), twin(x))


def test_qat_in_fit_and_test_on_selected_connections(tmp_path, datamodule):
    model = make_model()
    qat = QATStraightThroughCallback(bits=2, connections=["internal_1"])  # original name of 1_to_1
    seen = []

    def record(hook, trainer, module, *args):
        x = torch.rand(2, 6, 2)
        twin = _snapped_copy(module.model, ["1_to_1"])
        twin.train(module.model.training)
        seen.append(torch.equal(module.model(x), twin(x)))

    module = make_module(model)
    hooks = ["on_train_batch_end", "on_validation_batch_end", "on_test_batch_end"]
    trainer = make_trainer(tmp_path, [qat, Probe(record, hooks)])
    trainer.fit(module, datamodule=datamodule)
    assert qat.connections == ["1_to_1"]
    assert len(seen) == 4 + 2 and all(seen)
    x = torch.rand(2, 6, 2)
    assert not torch.equal(model(x), _snapped_copy(model, ["1_to_1"])(x))  # removed after fit
    trainer.test(module, datamodule=datamodule, verbose=False)  # the final test is quantised too
    assert len(seen) == 6 + 2 and all(seen)
    assert not _on_codebook(model.parameters_by_name()["connections.1_to_1"].detach()).all()


def test_stochastic_rounding_picks_neighbours_without_bias():
    w = torch.tensor([0.03, -0.2, 0.12, 0.5])
    gen = torch.Generator().manual_seed(0)
    draws = torch.stack([stochastic_code(w, BOOK, gen) for _ in range(4000)])
    assert sorted(set(draws[:, 0].tolist())) == pytest.approx([0.0, 0.12])
    assert draws[:, 0].mean() == pytest.approx(0.03, abs=0.005)  # P(0.12) = 0.25
    assert draws[:, 1].mean() == pytest.approx(-0.2, abs=0.005)
    assert torch.allclose(draws[:, 2], torch.tensor(0.12))
    assert torch.allclose(draws[:, 3], torch.tensor(0.24))  # beyond the range: clamped to the end

    model = make_model()
    qat = QATStraightThroughCallback(bits=2, stochastic_rounding=True, seed=5)
    qat.attach(model)
    model.eval()
    x = torch.rand(2, 6, 2)
    assert torch.equal(
        model(x), _snapped_copy(model, ["0_to_1", "1_to_1", "1_to_2"])(x)
    )  # eval: nearest


def test_quantized_accuracy_equals_hand_computation(tmp_path, datamodule):
    model = make_model(seed=4)
    module = make_module(model, pooling_params={"scale": 20.0})
    callback = QuantizedAccuracyCallback(bits=2, min_val=-0.24, max_val=0.24)
    make_trainer(tmp_path, [callback]).fit(module, datamodule=datamodule)
    before = {k: v.detach().clone() for k, v in model.parameters_by_name().items()}

    twin = _snapped_copy(model, ["0_to_1", "1_to_1", "1_to_2"]).eval()
    ds = datamodule.dataset("val")
    x, y = ds[list(range(len(ds)))]
    with torch.no_grad():
        pooled = 20.0 * twin(x)[:, 1:].amax(dim=1)
    expected = float((pooled.argmax(dim=1) == y).float().mean())

    assert callback.last_value == pytest.approx(expected)
    assert scalar_values(tmp_path, "val_quantized_accuracy") == pytest.approx([expected])
    assert 0.0 <= expected <= 1.0
    # measuring again restores the full-precision weights exactly
    callback.measure(module, datamodule.val_dataloader())
    for k, v in model.parameters_by_name().items():
        assert torch.equal(v.detach(), before[k])


def test_bad_quantization_settings_are_errors():
    model = make_model()
    with pytest.raises(ConfigError, match="callbacks.qat.*bits"):
        QATStraightThroughCallback(min_val=-0.2, max_val=0.2, setting="callbacks.qat")
    with pytest.raises(
        ConfigError,
        match=r"callbacks.qat.*'0_to_3'.*did you mean '0_to_1'.*valid names: 0_to_1, 1_to_1, 1_to_2",
    ):
        QATStraightThroughCallback(
            bits=2, connections=["0_to_3"], setting="callbacks.qat"
        ).check_model(model)
    with pytest.raises(ConfigError, match="paradigm"):
        QuantizedAccuracyCallback(bits=2).check_module(
            make_module(
                make_model(),
                paradigm="self_supervised",
                mapping="seq2seq",
                losses=[{"name": "mse"}],
            )
        )
