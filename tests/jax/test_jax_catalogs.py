"""The JAX catalogs compute what the torch ones compute: sources, poolings, losses, optimisers."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import model_zoo as zoo
import numpy as np
import pytest
import torch

from soen_train.jax.errors import JaxUnsupportedError
from soen_train.jax.losses import JAX_LOSSES, JaxLossContext, JaxWeightedLoss, nearest_code
from soen_train.jax.optimizers import build_jax_optimizer
from soen_train.jax.pooling import pool_time_jax
from soen_train.jax.simulator import JaxSOEN
from soen_train.jax.source_functions import JAX_SOURCE_FUNCTIONS, jax_source_function, rate_grid
from soen_train.model.network import SOENModel
from soen_train.model.source_functions import SOURCE_FUNCTIONS
from soen_train.training.losses import LOSSES, LossContext
from soen_train.training.optimizers import build_optimizer
from soen_train.training.time_pooling import POOLINGS, pool_time


# ---------------------------------------------------------------------------------- sources
@pytest.mark.parametrize("name", SOURCE_FUNCTIONS.names())
def test_source_function_values_and_gradients(name: str) -> None:
    """On a wide grid (phi over several periods, currents on both sides of every clamp)."""
    rng = np.random.default_rng(1)
    phi = rng.uniform(-1.6, 1.6, (40, 30)).astype(np.float32)
    cur = rng.uniform(-3.0, 3.0, (40, 30)).astype(np.float32)
    ref = SOURCE_FUNCTIONS.get(name)()
    pt, ct = torch.tensor(phi, requires_grad=True), torch.tensor(cur, requires_grad=True)
    value = ref.value(pt, ct if ref.uses_current else None)
    value.sum().backward()
    fn = jax_source_function(name)
    assert fn.uses_current == ref.uses_current

    def total(p, c):
        return jnp.sum(fn(p, c if fn.uses_current else None))

    gp, gc = jax.grad(total, argnums=(0, 1))(jnp.asarray(phi), jnp.asarray(cur))
    np.testing.assert_allclose(
        np.asarray(fn(jnp.asarray(phi), jnp.asarray(cur) if fn.uses_current else None)),
        value.detach().numpy(),
        atol=1e-6,
    )
    scale = max(1.0, float(pt.grad.abs().max()))
    np.testing.assert_allclose(np.asarray(gp) / scale, pt.grad.numpy() / scale, atol=1e-5)
    if ref.uses_current:
        scale = max(1.0, float(ct.grad.abs().max()))
        np.testing.assert_allclose(np.asarray(gc) / scale, ct.grad.numpy() / scale, atol=1e-5)


def test_source_aliases_resolve_and_unknown_names_fail() -> None:
    assert jax_source_function("rate_array").name == "RateArray"
    assert sorted(JAX_SOURCE_FUNCTIONS.names()) == sorted(SOURCE_FUNCTIONS.names())
    with pytest.raises(KeyError, match="valid names"):
        jax_source_function("RateArrai")


def test_rate_table_is_read_without_pickle_and_matches_the_grid() -> None:
    grid = rate_grid()
    with np.load(zoo_rate_table(), allow_pickle=False) as data:
        g = data["g"]
    assert grid.cells.shape == ((g.shape[0] - 1) * (g.shape[1] - 1), 4)
    np.testing.assert_allclose(grid.cells[0, 0], g[0, 0], rtol=1e-6)  # c0 of the first cell
    assert grid.cells[:, 0].max() == pytest.approx(float(g[:-1, :-1].max()), rel=1e-6)


def zoo_rate_table():
    from soen_train.jax.source_functions import RATE_TABLE_PATH

    return RATE_TABLE_PATH


# ---------------------------------------------------------------------------------- pooling
POOL_CASES = [
    ("max", {}),
    ("mean", {}),
    ("rms", {}),
    ("final", {}),
    ("mean_last_n", {"n": 3}),
    ("mean_range", {"range_start": 2, "range_end": 5}),
    ("mean_range", {}),
    ("ewa", {"min_weight": 0.3}),
    ("mean", {"scale": 2.5}),
]


@pytest.mark.parametrize("name,params", POOL_CASES)
def test_pooling_matches_torch(name: str, params: dict) -> None:
    h = np.random.default_rng(2).normal(size=(4, 7, 3)).astype(np.float32)
    expected = pool_time(torch.from_numpy(h), name, params).numpy()
    np.testing.assert_allclose(
        np.asarray(pool_time_jax(jnp.asarray(h), name, params)), expected, rtol=1e-6, atol=1e-7
    )
    assert sorted(POOLINGS.names()) == sorted(
        __import__("soen_train.jax.pooling", fromlist=["x"]).JAX_POOLINGS.names()
    )


def test_pooling_config_errors_are_the_torch_ones() -> None:
    with pytest.raises(ValueError, match="unknown parameter 'm'"):
        pool_time_jax(jnp.zeros((1, 3, 2)), "mean_last_n", {"m": 2})


# ---------------------------------------------------------------------------------- losses
class _WeightsOnly:
    """The part of the model API the weight losses read."""

    def __init__(self, weights):
        self._weights = weights

    def connection_weights(self, learnable_only: bool = True):
        return self._weights


LOSS_CASES = [
    ("cross_entropy", {}, "static"),
    ("cross_entropy", {}, "seq"),
    ("mse", {}, "regression"),
    ("reg_J_loss", {"threshold": 0.2, "scale": 3.0, "factor": 0.5}, "static"),
    ("top_gap_loss", {"separation_threshold": 0.5}, "static"),
    ("gap_loss", {"margin": 0.3}, "static"),
    ("gravity_quantization_loss", {"min_val": -0.24, "max_val": 0.24, "bits": 2}, "static"),
    ("gravity_quantization_loss", {"codebook": [-0.3, 0.0, 0.1], "mode": "mse"}, "static"),
    ("get_off_the_ground_loss", {"threshold": 0.5}, "static"),
    ("exp_high_state_penalty", {"threshold": 0.3, "scale": 2.0}, "static"),
]


def _loss_inputs(kind: str):
    rng = np.random.default_rng(3)
    weights = {
        "0_to_1": rng.uniform(-0.4, 0.4, (4, 3)).astype(np.float32),
        "1_to_2": rng.uniform(-0.4, 0.4, (2, 4)).astype(np.float32),
    }
    if kind == "static":
        out = rng.normal(size=(6, 3)).astype(np.float32) * 0.6
        tgt = np.array([0, 1, 2, 1, 0, 2])
        pooled = out
    elif kind == "seq":
        out = rng.normal(size=(3, 5, 4)).astype(np.float32)
        tgt = rng.integers(0, 4, (3, 5))
        tgt[0, :2] = -100
        pooled = None
    else:
        out = rng.normal(size=(5, 2)).astype(np.float32)
        tgt = rng.normal(size=(5, 7, 2)).astype(np.float32)
        pooled = out
    return out, tgt, pooled, weights


@pytest.mark.parametrize("name,params,kind", LOSS_CASES)
def test_loss_matches_torch(name: str, params: dict, kind: str) -> None:
    out, tgt, pooled, weights = _loss_inputs(kind)
    scale = 1.5
    t_ctx = LossContext(
        outputs=torch.from_numpy(out),
        targets=torch.from_numpy(tgt),
        pooled=None if pooled is None else torch.from_numpy(pooled),
        pooling_scale=scale,
        model=_WeightsOnly({k: torch.from_numpy(v) for k, v in weights.items()}),
    )
    expected = float(LOSSES.get(name)(t_ctx, **params))
    j_ctx = JaxLossContext(
        outputs=jnp.asarray(out),
        targets=jnp.asarray(tgt),
        pooled=None if pooled is None else jnp.asarray(pooled),
        pooling_scale=scale,
        weights={k: jnp.asarray(v) for k, v in weights.items()},
    )
    got = float(JAX_LOSSES.get(name)(j_ctx, **params))
    assert got == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_nearest_code_ties_go_to_the_lower_level() -> None:
    book = np.array([-0.2, 0.0, 0.2], dtype=np.float32)
    w = jnp.asarray([-0.1, 0.1, 0.3, -0.25, 0.05])
    np.testing.assert_allclose(np.asarray(nearest_code(w, book)), [-0.2, 0.0, 0.2, -0.2, 0.0])


def test_weighted_loss_validates_like_torch_and_refuses_torch_only_losses() -> None:
    with pytest.raises(KeyError, match="did you mean 'cross_entropy'"):
        JaxWeightedLoss([{"name": "cross_entropi"}])
    with pytest.raises(ValueError, match="unknown parameter 'treshold'"):
        JaxWeightedLoss([{"name": "reg_J_loss", "params": {"treshold": 0.1}}])
    with pytest.raises(
        JaxUnsupportedError, match=r"training.loss.losses\[1\]: loss 'rich_margin_loss'"
    ):
        JaxWeightedLoss([{"name": "cross_entropy"}, {"name": "rich_margin_loss"}])
    loss = JaxWeightedLoss([{"name": "mse"}, {"name": "mse", "weight": 2.0}])
    assert loss.term_keys == ["mse", "mse_2"]
    assert loss.weights == {"mse": 1.0, "mse_2": 2.0}
    assert set(JAX_LOSSES.names()) <= set(LOSSES.names())


def test_weight_losses_see_the_models_learnable_masked_weights() -> None:
    """JaxSOEN.connection_weights gives what SOENModel.connection_weights gives."""
    arch = zoo.pulse_net()
    arch["connections"][0]["learnable"] = False
    model = SOENModel.from_yaml(arch, seed=0)
    jax_model, params = JaxSOEN.from_torch(model)
    got = jax_model.connection_weights(params)
    expected = model.connection_weights(learnable_only=True)
    assert sorted(got) == sorted(expected) == ["1_to_1", "1_to_2"]
    for name, w in expected.items():
        np.testing.assert_array_equal(np.asarray(got[name]), w.detach().numpy())


# ---------------------------------------------------------------------------------- optimisers
OPTIMIZER_CASES = [
    ("adamw", {}),
    ("adamw", {"weight_decay": 0.1, "amsgrad": True}),
    ("adam", {"weight_decay": 0.05}),
    ("sgd", {}),
    ("sgd", {"momentum": 0.9, "nesterov": True}),
    ("sgd", {"momentum": 0.8, "dampening": 0.3}),
    ("rmsprop", {}),
    ("rmsprop", {"momentum": 0.5, "centered": True, "weight_decay": 0.01}),
    ("lion", {"weight_decay": 0.1}),
]


@pytest.mark.parametrize("name,kwargs", OPTIMIZER_CASES)
def test_optimizer_steps_match_torch(name: str, kwargs: dict) -> None:
    """Five steps on a quadratic bowl: same parameters as torch.optim (within float32 rounding)."""
    rng = np.random.default_rng(4)
    start = rng.normal(size=(3, 2)).astype(np.float32)
    target = rng.normal(size=(3, 2)).astype(np.float32)
    lr = 0.05
    p = torch.nn.Parameter(torch.from_numpy(start.copy()))
    opt = build_optimizer(name, [("w", p)], lr=lr, kwargs=kwargs)
    tx = build_jax_optimizer(name, kwargs)
    w = {"w": jnp.asarray(start)}
    state = tx.init(w)
    for _ in range(5):
        opt.zero_grad()
        ((p - torch.from_numpy(target)) ** 2).sum().backward()
        opt.step()
        grads = {"w": 2.0 * (w["w"] - target)}
        direction, state = tx.update(grads, state, w)
        w = {"w": w["w"] - lr * direction["w"]}
    # parameters are O(1): five float32 updates leave a few ulp of rounding difference
    np.testing.assert_allclose(np.asarray(w["w"]), p.detach().numpy(), rtol=1e-5, atol=1e-5)


def test_gradient_clipping_by_norm_and_value() -> None:
    grads = {"a": jnp.asarray([3.0, 4.0]), "b": jnp.asarray([0.0, 12.0])}  # global norm 13
    tx = build_jax_optimizer("sgd", {}, clip_val=1.3, clip_algorithm="norm")
    clipped, _ = tx.update(grads, tx.init(grads))
    np.testing.assert_allclose(np.asarray(clipped["a"]), [0.3, 0.4], rtol=1e-6)
    tx = build_jax_optimizer("sgd", {}, clip_val=3.5, clip_algorithm="value")
    clipped, _ = tx.update(grads, tx.init(grads))
    np.testing.assert_allclose(np.asarray(clipped["b"]), [0.0, 3.5])


def test_optimizer_option_errors_name_the_key() -> None:
    with pytest.raises(ValueError, match="training.optimizer.kwargs.betaz"):
        build_jax_optimizer("adam", {"betaz": (0.9, 0.9)})
    with pytest.raises(JaxUnsupportedError, match="training.optimizer.kwargs.fused"):
        build_jax_optimizer("adam", {"fused": True})
    with pytest.raises(KeyError, match="valid names"):
        build_jax_optimizer("adamm", {})
