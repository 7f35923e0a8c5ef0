"""Optimizer catalog: Lion's update rule, param-group matching, explicit defaults, errors."""

import pytest
import torch

from soen_train.registry import UnknownNameError
from soen_train.training.optimizers import OPTIMIZERS, Lion, build_optimizer, optimizer_kwargs


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.phi_offset = torch.nn.Parameter(torch.zeros(2))
        self.j01 = torch.nn.Parameter(torch.zeros(2, 2))
        self.j12 = torch.nn.Parameter(torch.zeros(1, 2))
        self.frozen = torch.nn.Parameter(torch.zeros(1), requires_grad=False)

    def named(self):
        names = {"phi_offset": "model.layers.1.phi_offset", "j01": "model.connections.0_to_1",
                 "j12": "model.connections.1_to_2", "frozen": "model.layers.1.frozen"}
        return [(names[n], p) for n, p in self.named_parameters()]


def test_lion_two_steps_by_hand():
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = Lion([p], lr=0.1, betas=(0.9, 0.99), weight_decay=0.1)
    p.grad = torch.tensor([0.5, -0.1])
    opt.step()
    assert torch.allclose(p.detach(), torch.tensor([0.99 - 0.1, -1.98 + 0.1]))
    m1 = torch.tensor([0.005, -0.001])
    assert torch.allclose(opt.state[p]["exp_avg"], m1)
    p.grad = torch.tensor([-1.0, -0.1])
    opt.step()
    # c = 0.9 m + 0.1 g = [-0.0955, -0.0109] -> sign -1 for both
    assert torch.allclose(p.detach(), torch.tensor([0.89 * 0.99 + 0.1, -1.88 * 0.99 + 0.1]))
    assert torch.allclose(opt.state[p]["exp_avg"], 0.99 * m1 + 0.01 * torch.tensor([-1.0, -0.1]))


def test_lion_moves_every_coordinate_by_exactly_lr():
    # On a quadratic far from its minimum the sign never flips: 20 steps of 0.05 move by 1.
    p = torch.nn.Parameter(torch.tensor([3.0, -2.0]))
    opt = build_optimizer("lion", [("w", p)], lr=0.05, kwargs={})
    for _ in range(20):
        opt.zero_grad()
        (p**2).sum().backward()
        opt.step()
    assert torch.allclose(p.detach(), torch.tensor([2.0, -1.0]), atol=1e-5)


def test_param_groups_first_match_wins_and_rest_default():
    net = Net()
    opt = build_optimizer(
        "adamw", net.named(), lr=1e-3, kwargs={"weight_decay": 0.05},
        param_groups=[
            {"match": "phi_offset", "lr": 1e-2, "weight_decay": 0.0},
            {"match_regex": r"connections\.\d_to_1$", "lr": 5e-4},
            {"match": "connections", "betas": [0.8, 0.9]},
        ],
    )
    g = opt.param_groups
    assert [len(x["params"]) for x in g] == [1, 1, 1]  # the frozen parameter is left out
    assert g[0]["params"][0] is net.phi_offset and g[0]["lr"] == 1e-2 and g[0]["weight_decay"] == 0.0
    assert g[1]["params"][0] is net.j01 and g[1]["lr"] == 5e-4 and g[1]["weight_decay"] == 0.05
    assert g[2]["params"][0] is net.j12 and g[2]["betas"] == (0.8, 0.9) and g[2]["lr"] == 1e-3
    assert [x["lr_scale"] for x in g] == pytest.approx([10.0, 0.5, 1.0])
    assert [x["initial_lr"] for x in g] == [1e-2, 5e-4, 1e-3]


def test_no_hidden_weight_decay():
    net = Net()
    adam = build_optimizer("adam", net.named(), lr=1e-3)
    assert all(group["weight_decay"] == 0 for group in adam.param_groups)
    assert optimizer_kwargs("adamw")["weight_decay"] == 0.01  # torch's documented AdamW default
    assert optimizer_kwargs("lion") == {"lr": 1e-4, "betas": (0.9, 0.99), "weight_decay": 0.0}
    assert OPTIMIZERS.names() == ["adam", "adamw", "lion", "rmsprop", "sgd"]
    sgd = build_optimizer("sgd", net.named(), lr=0.1, kwargs={"momentum": 0.9})
    assert sgd.param_groups[0]["momentum"] == 0.9


@pytest.mark.parametrize(
    "call, error, message",
    [
        ({"name": "adamm"}, UnknownNameError, r"unknown optimizer 'adamm' \(did you mean 'adam'\?\); valid names: adam, adamw, lion, rmsprop, sgd"),
        ({"kwargs": {"weight_decya": 0.1}}, ValueError, r"training.optimizer.kwargs \(optimizer 'adamw'\): unknown option 'weight_decya' \(did you mean 'weight_decay'\?\); valid options: amsgrad, betas"),
        ({"param_groups": [{"match": "nothing_like_this"}]}, ValueError, r"param_groups\[0\]: matches no trainable parameter; parameters include: model.layers.1.phi_offset"),
        ({"param_groups": [{"lr": 0.1}]}, ValueError, r"param_groups\[0\]: a param group needs 'match' \(substring\) or 'match_regex'"),
        ({"param_groups": [{"match_regex": "("}]}, ValueError, r"match_regex '\(' is invalid"),
        ({"param_groups": [{"match": "phi", "momentum": 0.9}]}, ValueError, r"param_groups\[0\] \(optimizer 'adamw'\): unknown option 'momentum'"),
        ({"lr": 0}, ValueError, r"training.optimizer.lr = 0 must be a positive number"),
        ({"kwargs": {"lr": 0.1}}, ValueError, "give the learning rate as training.optimizer.lr"),
        ({"kwargs": {"betas": [2.0, 0.9]}}, ValueError, "optimizer 'adamw' rejected its options"),
    ],
)
def test_errors(call, error, message):
    args = {"name": "adamw", "named_parameters": Net().named(), "lr": 1e-3, "kwargs": {}, "param_groups": ()}
    args.update(call)
    with pytest.raises(error, match=message):
        build_optimizer(**args)


def test_no_trainable_parameters():
    frozen = torch.nn.Parameter(torch.zeros(1), requires_grad=False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        build_optimizer("adam", [("w", frozen)], lr=1e-3)
