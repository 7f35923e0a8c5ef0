"""Every loss on a real SOENModel (contract check: connection_weights, simulate, spec, g)."""

import torch

from soen_train.model import SOENModel
from soen_train.training.losses import LOSSES, LossContext, WeightedLoss
from soen_train.training.time_pooling import pool_time

ARCH = {
    "simulation": {"dt": 200.0, "input_type": "state", "network_evaluation_method": "layerwise"},
    "layers": [
        {"layer_id": 0, "layer_type": "Input", "params": {"dim": 1}},
        {"layer_id": 1, "layer_type": "SingleDendrite", "params": {
            "dim": 4, "solver": "FE", "source_func": "Heaviside_fit_state_dep",
            "bias_current": {"distribution": "constant", "params": {"value": 1.95}},
            "gamma_plus": {"distribution": "constant", "params": {"value": 1.3e-4}},
            "gamma_minus": {"distribution": "constant", "params": {"value": 1e-6}},
        }},
        {"layer_id": 2, "layer_type": "Input", "params": {"dim": 2}},
    ],
    "connections": [
        {"from_layer": 0, "to_layer": 1, "connection_type": "all_to_all", "learnable": True,
         "params": {"init": "uniform", "min": 0.17, "max": 0.24}},
        {"from_layer": 1, "to_layer": 1, "connection_type": "all_to_all", "learnable": True,
         "params": {"init": "normal", "mean": 0.0, "std": 0.1, "allow_self_connections": False}},
        {"from_layer": 1, "to_layer": 2, "connection_type": "all_to_all", "learnable": True,
         "params": {"init": "uniform", "min": -0.5, "max": 0.5}},
    ],
}


def test_weighted_sum_of_every_loss_backpropagates_into_the_model():
    model = SOENModel.from_yaml(ARCH, seed=0)
    items = [{"name": n} for n in LOSSES.names()
             if n not in ("mse", "autoregressive_cross_entropy", "gravity_quantization_loss")]
    items += [
        {"name": "gravity_quantization_loss", "params": {"min_val": -0.24, "max_val": 0.24, "bits": 2}},
        {"name": "ensure_post_sample_decay", "params": {"zero_input_steps": 2}},
        {"name": "local_expansion_loss", "params": {"detach_clean": False, "perturbation_scale": 1e-3}},
    ]
    loss = WeightedLoss(items)
    torch.manual_seed(0)
    x = torch.rand(3, 10, 1)
    sim = model.simulate(x, track_g="track_g" in loss.needs)
    pooled = pool_time(sim.output[:, 1:], "mean", {"scale": 5.0})
    ctx = LossContext(outputs=pooled, targets=torch.tensor([0, 1, 1]), pooled=pooled, pooling_scale=5.0,
                      model=model, inputs=x, sim=sim, forward=model.simulate)
    total, terms = loss(ctx)
    assert set(terms) == {t.key for t in loss.terms} and torch.isfinite(total)
    total.backward()
    grads = [p.grad for name, p in model.named_parameters() if "connections" in name]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
