"""The shipped `hparams_search=optuna` option composes into a working Optuna sweeper config."""

from __future__ import annotations

import optuna
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf
from optuna.distributions import CategoricalDistribution, FloatDistribution

from hydra_plugins.soen_optuna_sweeper.config import SWEEPER_TARGET
from soen_train.config.conf_dir import CONF_DIR
from soen_train.config.store import register_configs
from soen_train.sweeps.search_space import build_search_space
from soen_train.sweeps.study_setup import build_pruner, build_sampler, pruner_config


def test_hparams_search_optuna_composes_to_tpe_median_search() -> None:
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=["hparams_search=optuna"], return_hydra_config=True)
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_ == SWEEPER_TARGET
    assert sweeper.direction == "minimize" and sweeper.n_trials == 8
    assert cfg.training.objective_metric == "val_loss"

    params = OmegaConf.to_container(sweeper.params)
    space = build_search_space(params, [])
    assert space.distributions == {
        "training.lr": FloatDistribution(1e-4, 1e-1, log=True),
        "model.time_pooling.name": CategoricalDistribution(["max", "mean", "final"]),
    }
    sampler = build_sampler(sweeper.sampler, space)
    assert isinstance(sampler, optuna.samplers.TPESampler)
    assert sampler._n_startup_trials == 4
    pruner = build_pruner(pruner_config(sweeper.pruner))
    assert isinstance(pruner, optuna.pruners.MedianPruner)
    assert (pruner._n_startup_trials, pruner._n_warmup_steps) == (3, 1)
    # The job overrides it would hand to soen-train are valid for the trainer's own config.
    lines = space.job_overrides({"training.lr": 0.003, "model.time_pooling.name": "mean"})
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        job_cfg = compose("train", overrides=lines)
    assert job_cfg.training.lr == 0.003 and job_cfg.model.time_pooling.name == "mean"
