"""Monitoring callbacks: tags read back from TensorBoard event files, values checked by hand."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from callbacks_testkit import Probe, event_accumulator, make_model, make_module, make_trainer

from soen_train.training.callbacks import (
    ConnectionHistogramCallback,
    GradientNormCallback,
    LayerParamHistogramCallback,
    StateTrajectoryImageCallback,
)


def test_connection_histograms_and_stats(tmp_path, datamodule):
    model = make_model()
    make_trainer(tmp_path, [ConnectionHistogramCallback()], max_epochs=2).fit(
        make_module(model), datamodule=datamodule
    )
    acc = event_accumulator(tmp_path)
    names = ("0_to_1", "1_to_1", "1_to_2")
    assert {f"connection_histograms/{n}" for n in names} <= set(acc.Tags()["histograms"])
    for n in names:
        assert len(acc.Histograms(f"connection_histograms/{n}")) == 2  # one per validation epoch
    w = model.connection_weights()["1_to_1"].detach()
    final = {
        stat: acc.Scalars(f"connection_stats/1_to_1/{stat}")[-1].value
        for stat in ("mean", "std", "abs_max")
    }
    assert final["mean"] == pytest.approx(float(w.mean()), abs=1e-6)
    assert final["std"] == pytest.approx(float(w.std(unbiased=False)), abs=1e-6)
    assert final["abs_max"] == pytest.approx(float(w.abs().max()), abs=1e-6)
    hist = acc.Histograms("connection_histograms/1_to_1")[-1].histogram_value
    assert hist.num == 9 and hist.min == pytest.approx(float(w.min()), abs=1e-6)


def test_layer_param_histograms_every_n_steps(tmp_path, datamodule):
    make_trainer(tmp_path, [LayerParamHistogramCallback(every_n_steps=2)]).fit(
        make_module(make_model()), datamodule=datamodule
    )
    acc = event_accumulator(tmp_path)
    tags = set(acc.Tags()["histograms"])
    assert {"layer_params/layer1/bias_current", "layer_gradients/layer1/bias_current"} <= tags
    assert not any("gamma_plus" in t for t in tags)  # frozen parameters are not tracked
    assert [e.step for e in acc.Histograms("layer_params/layer1/bias_current")] == [0, 2]


def test_gradient_norms_match_the_gradients(tmp_path, datamodule):
    grads = {}

    def record(hook, trainer, module, optimizer):
        params = module.model.parameters_by_name()
        grads[trainer.global_step] = {
            k: p.grad.norm().item() for k, p in params.items() if p.grad is not None
        }

    callback = GradientNormCallback(every_n_steps=1)
    make_trainer(tmp_path, [callback, Probe(record, ["on_before_optimizer_step"])]).fit(
        make_module(make_model()), datamodule=datamodule
    )
    acc = event_accumulator(tmp_path)
    for name in ("layers.1.bias_current", "connections.0_to_1", "connections.1_to_2"):
        logged = {e.step: e.value for e in acc.Scalars(f"grad_norm/{name}")}
        assert logged == pytest.approx({s: g[name] for s, g in grads.items()}, rel=1e-5)
    total = {e.step: e.value for e in acc.Scalars("grad_norm/total")}
    assert sorted(total) == [0, 1, 2, 3]
    for step, g in grads.items():
        assert total[step] == pytest.approx(math.sqrt(sum(v * v for v in g.values())), rel=1e-5)


def test_state_trajectory_images_are_written(tmp_path, datamodule):
    import matplotlib.image as mpimg

    callback = StateTrajectoryImageCallback(layer_id=1, num_samples=3, max_neurons_per_sample=2)
    make_trainer(tmp_path, [callback]).fit(make_module(make_model()), datamodule=datamodule)
    acc = event_accumulator(tmp_path)
    expected = [f"callbacks/state_trajectories/layer_1/sample_{i}" for i in range(3)]
    assert sorted(acc.Tags()["images"]) == expected
    image = acc.Images(expected[0])[-1]
    assert image.encoded_image_string[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = mpimg.imread(io.BytesIO(image.encoded_image_string), format="png")
    assert pixels.shape[:2] == (image.height, image.width) == (240, 400)
    assert np.ptp(pixels[..., :3]) > 0.5  # something was drawn


def test_state_trajectory_layer_must_exist():
    from soen_train.config.errors import ConfigError

    with pytest.raises(
        ConfigError, match=r"logging.state_trajectories.*\[9\].*valid layer ids: 0, 1, 2"
    ):
        StateTrajectoryImageCallback(layer_id=9, setting="logging.state_trajectories").check_model(
            make_model()
        )
    assert StateTrajectoryImageCallback().check_model(make_model()) == 2  # default: output layer
    with pytest.raises(ValueError, match="mode"):
        StateTrajectoryImageCallback(mode="test")
