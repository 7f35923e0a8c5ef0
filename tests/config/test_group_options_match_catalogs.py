"""Every shipped config-group option is accepted by the catalog it configures."""

import pytest
import torch
import yaml

from soen_train.config.conf_dir import CONF_DIR
from soen_train.training.losses import WeightedLoss
from soen_train.training.lr_schedules import build_lr_schedule
from soen_train.training.optimizers import build_optimizer
from soen_train.training.time_pooling import pool_time, validate_pooling

CONF = CONF_DIR


def _options(group):
    return sorted(p.name for p in (CONF / group).iterdir() if p.name.endswith(".yaml"))


def _load(group, name):
    return yaml.safe_load((CONF / group / name).read_text())


@pytest.mark.parametrize("name", _options("lr_scheduler"))
def test_lr_scheduler_options_build(name):
    params = _load("lr_scheduler", name)
    kind = params.pop("type")
    params = {k: (1e-3 if str(v).startswith("${") else v) for k, v in params.items()}
    schedule = build_lr_schedule(
        kind,
        params,
        base_lr=1e-3,
        steps_per_epoch=10,
        max_epochs=5,
        available_metrics=["val_loss", "val_accuracy"],
    )
    assert schedule.lr_at(0) > 0


@pytest.mark.parametrize("name", _options("time_pooling"))
def test_time_pooling_options_pool(name):
    cfg = _load("time_pooling", name)
    validate_pooling(cfg["name"], cfg["params"])
    assert pool_time(torch.rand(2, 60, 3), cfg["name"], cfg["params"]).shape == (2, 3)


@pytest.mark.parametrize("name", _options("loss"))
def test_loss_options_build(name):
    items = _load("loss", name)["losses"]
    assert WeightedLoss(items).term_names


@pytest.mark.parametrize("name", _options("optimizer"))
def test_optimizer_options_build(name):
    cfg = _load("optimizer", name)
    params = [("w", torch.nn.Parameter(torch.zeros(2)))]
    opt = build_optimizer(cfg["name"], params, lr=1e-3, kwargs=cfg["kwargs"])
    assert opt.param_groups[0]["lr"] == 1e-3
