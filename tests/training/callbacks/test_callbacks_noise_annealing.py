"""NoiseAnnealingCallback: annealed std per epoch and per step, logged tag, eval stays noiseless."""

from __future__ import annotations

import pytest
import torch
from callbacks_testkit import (
    Probe,
    event_accumulator,
    make_model,
    make_module,
    make_trainer,
    scalar_values,
)

from soen_train.config.errors import ConfigError
from soen_train.training.callbacks import NoiseAnnealingCallback


def _phi_noise(module) -> float:
    return module.model.layer(1).spec.noise.std("phi")


def test_per_epoch_value_at_epoch_k_is_linear(tmp_path, datamodule):
    module = make_module(make_model())
    annealer = NoiseAnnealingCallback(
        "phi", "noise", start_value=0.3, end_value=0.0, per_step=False, layer_ids=[1]
    )
    seen = {}
    probe = Probe(
        lambda hook, tr, m: seen.setdefault(tr.current_epoch, _phi_noise(m)),
        ["on_train_epoch_start"],
    )
    make_trainer(tmp_path, [annealer, probe], max_epochs=3).fit(module, datamodule=datamodule)
    # end_epoch null = last epoch (2): value(e) = 0.3 + e/2 * (0 - 0.3)
    assert seen == pytest.approx({0: 0.3, 1: 0.15, 2: 0.0})
    assert scalar_values(tmp_path, "callbacks/noise/phi_noise/layers_1") == pytest.approx(
        [0.3, 0.15, 0.0]
    )


def test_per_step_value_follows_optimizer_steps(tmp_path, datamodule):
    module = make_module(make_model())
    annealer = NoiseAnnealingCallback(
        "bias_current", "perturb", start_value=0.0, end_value=0.7, start_epoch=0, end_epoch=1
    )
    seen = {}

    def record(hook, trainer, m, batch, batch_idx):
        seen[trainer.global_step] = m.model.layer(1).spec.perturb.std("bias_current")

    make_trainer(tmp_path, [annealer, Probe(record, ["on_train_batch_start"])], max_epochs=2).fit(
        module, datamodule=datamodule
    )
    # 4 steps per epoch: s0 = 0, s1 = 1 * 4 + 4 - 1 = 7, value = 0.7 * step / 7
    assert sorted(seen) == list(range(8))
    for step, value in seen.items():
        assert value == pytest.approx(0.7 * step / 7)
    tags = event_accumulator(tmp_path).Tags()["scalars"]
    assert "callbacks/noise/bias_current_perturb" in tags


def test_noise_acts_in_training_only():
    model = make_model()
    x = torch.rand(3, 6, 2)
    model.eval()
    clean = model(x)
    NoiseAnnealingCallback("phi", start_value=0.5, end_value=0.5, setting="t").check_model(model)
    with torch.no_grad():
        assert torch.equal(model(x), clean)  # validation/test: no noise
        model.train()
        assert not torch.allclose(model(x), clean)


def test_unknown_layer_and_key_are_errors_naming_the_setting():
    model = make_model()
    with pytest.raises(
        ConfigError, match=r"callbacks.noise_annealers\[0\].*\[7\].*valid layer ids: 0, 1, 2"
    ):
        NoiseAnnealingCallback(
            "phi", layer_ids=[7], setting="callbacks.noise_annealers[0]"
        ).check_model(model)
    with pytest.raises(
        ConfigError,
        match=r"callbacks.noise_annealers\[1\].*'bias_curent'.*did you mean 'bias_current'",
    ):
        NoiseAnnealingCallback("bias_curent", setting="callbacks.noise_annealers[1]").check_model(
            model
        )
    with pytest.raises(ValueError, match="target.*noise, perturb"):
        NoiseAnnealingCallback("phi", target="jitter")
    with pytest.raises(ValueError, match="end_epoch"):
        NoiseAnnealingCallback("phi", start_epoch=3, end_epoch=1)
    with pytest.raises(ValueError, match="start_value"):
        NoiseAnnealingCallback("phi", start_value=-0.1)
