"""Time pooling methods against their formulas on hand-made histories."""

import math

import pytest
import torch

from soen_train.training.time_pooling import (
    POOLINGS,
    pool_time,
    pooling_parameters,
    validate_pooling,
)

# One sample, 4 steps, 2 nodes: node 0 = 1, 3, 2, 4; node 1 = -1, 0, 1, 2.
H = torch.tensor([[[1.0, -1.0], [3.0, 0.0], [2.0, 1.0], [4.0, 2.0]]])


def test_registry_holds_the_seven_methods():
    assert POOLINGS.names() == ["ewa", "final", "max", "mean", "mean_last_n", "mean_range", "rms"]


@pytest.mark.parametrize(
    "name, params, expected",
    [
        ("max", {}, [4.0, 2.0]),
        ("mean", {}, [2.5, 0.5]),
        ("final", {}, [4.0, 2.0]),
        ("mean_last_n", {"n": 2}, [3.0, 1.5]),
        ("mean_last_n", {}, [4.0, 2.0]),  # n defaults to 1
        ("mean_last_n", {"n": 10}, [2.5, 0.5]),  # n clamped to T
        ("mean_range", {"range_start": 1, "range_end": 3}, [2.5, 0.5]),
        ("mean_range", {"range_start": 2}, [3.0, 1.5]),
        ("mean_range", {}, [2.5, 0.5]),  # default: last min(50, T) steps
        ("mean_range", {"range_start": 9, "range_end": 12}, [4.0, 2.0]),  # clamped to last step
        ("max", {"scale": 2.0}, [8.0, 4.0]),
        ("mean", {"scale": 0.5}, [1.25, 0.25]),
    ],
)
def test_pooling_values(name, params, expected):
    out = pool_time(H, name, params)
    assert out.shape == (1, 2)
    assert torch.allclose(out, torch.tensor([expected]))


def test_rms_has_epsilon_inside_the_root():
    out = pool_time(H, "rms", {})
    node0 = math.sqrt((1 + 9 + 4 + 16) / 4 + 1e-8)
    node1 = math.sqrt((1 + 0 + 1 + 4) / 4 + 1e-8)
    assert torch.allclose(out, torch.tensor([[node0, node1]]))
    zero = torch.zeros(1, 3, 1, requires_grad=True)
    pool_time(zero, "rms", {}).sum().backward()
    assert torch.isfinite(zero.grad).all()


def test_ewa_weights_follow_min_weight_power():
    m = 0.2
    tau = [0.0, 1 / 3, 2 / 3, 1.0]
    w = [m ** (1 - t) for t in tau]
    w = [v / sum(w) for v in w]
    node0 = sum(wi * v for wi, v in zip(w, [1.0, 3.0, 2.0, 4.0]))
    node1 = sum(wi * v for wi, v in zip(w, [-1.0, 0.0, 1.0, 2.0]))
    out = pool_time(H, "ewa", {})
    assert torch.allclose(out, torch.tensor([[node0, node1]]))
    # min_weight 1 is the plain mean; a constant history pools to itself.
    assert torch.allclose(pool_time(H, "ewa", {"min_weight": 1.0}), torch.tensor([[2.5, 0.5]]))
    assert torch.allclose(pool_time(torch.ones(2, 5, 3), "ewa", {"min_weight": 0.0}), torch.ones(2, 3))


def test_parameters_and_defaults():
    assert pooling_parameters("ewa") == {"min_weight": 0.2, "scale": 1.0}
    assert pooling_parameters("mean_range") == {"range_start": None, "range_end": None, "scale": 1.0}


@pytest.mark.parametrize(
    "name, params, message",
    [
        ("maxx", {}, r"unknown time pooling 'maxx' \(did you mean 'max'\?\); valid names: ewa, final"),
        ("mean_last_n", {"m": 2}, r"time pooling 'mean_last_n': unknown parameter 'm'.*valid parameters: n, scale"),
        ("mean_last_n", {"n": 0}, r"'n' = 0 must lie in \[1, inf\)"),
        ("mean_last_n", {"n": 1.5}, r"'n' = 1.5 must be an integer"),
        ("ewa", {"min_weight": 2.0}, r"'min_weight' = 2.0 must lie in \[0.0, 1.0\]"),
        ("mean", {"scale": 0}, r"'scale' must be non-zero"),
        ("mean", {"scale": "2"}, r"'scale' = '2' must be a number"),
        ("mean_range", {"range_start": 3, "range_end": 2}, r"range_end \(2\) must be greater than range_start \(3\)"),
    ],
)
def test_validation_errors(name, params, message):
    with pytest.raises(ValueError, match=message):
        validate_pooling(name, params)
    with pytest.raises(ValueError, match=message):
        pool_time(H, name, params)


def test_shape_errors():
    with pytest.raises(ValueError, match=r"expects a history of shape \[B, T, D\], got \(4, 2\)"):
        pool_time(H[0], "max", {})
    with pytest.raises(ValueError, match="at least one time step"):
        pool_time(torch.zeros(1, 0, 2), "mean", {})
