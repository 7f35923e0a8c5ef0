"""JAX training on a tiny pulses file: the loss falls, logs/checkpoints follow the torch layout,
schedules act per step, early stopping, accumulation and resume behave like the torch trainer."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import pytest
from run_setup import repeat_inputs, tiny_config

from soen_train.jax.checkpoint import load_checkpoint
from soen_train.jax.cli import main as jax_cli
from soen_train.model.network import SOENModel
from soen_train.training.jax_loop.repeat import default_loggers, train_jax_repeat
from soen_train.training.jax_loop.trainer import JaxTrainer
from soen_train.training.lr_schedules import build_lr_schedule


def read_scalars(log_dir: Path) -> Dict[str, List[Tuple[int, float]]]:
    """{tag: [(step, value), ...]} from the TensorBoard event files of one repeat."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_training_lowers_the_loss_and_writes_the_torch_layout(
    tmp_path: Path, pulses_file: Path, capsys
) -> None:
    cfg = tiny_config(
        tmp_path,
        pulses_file,
        max_epochs=4,
        losses=[{"name": "cross_entropy"}, {"name": "reg_J_loss", "weight": 0.5}],
    )
    paths, dm, model = repeat_inputs(cfg)
    result = train_jax_repeat(cfg, 0, paths, dm, model, loggers=default_loggers(cfg, paths))
    m = result.metrics
    assert m["epochs_trained"] == 4.0
    for key in (
        "val_loss",
        "final_val_loss",
        "val_accuracy",
        "test_loss",
        "test_accuracy",
        "val_loss/cross_entropy",
        "val_loss/reg_J_loss",
    ):
        assert key in m and math.isfinite(m[key]), key

    scalars = read_scalars(paths.logs)
    for tag in (
        "train_loss",
        "train_loss/cross_entropy",
        "train_loss/reg_J_loss",
        "train_accuracy",
        "val_loss",
        "val_loss/reg_J_loss",
        "val_accuracy",
        "test_loss",
        "test_accuracy",
        "lr",
        "epoch",
        "train_loss_step",
    ):
        assert tag in scalars, f"missing TensorBoard tag {tag}; have {sorted(scalars)}"
    train = [v for _, v in scalars["train_loss"]]
    val = [v for _, v in scalars["val_loss"]]
    assert len(train) == len(val) == 4
    assert train[-1] < 0.7 * train[0] and min(val[1:]) < val[0]
    steps_per_epoch = math.ceil(64 / 16)
    assert [s for s, _ in scalars["val_loss"]] == [steps_per_epoch * (e + 1) - 1 for e in range(4)]
    assert m["val_loss"] == pytest.approx(min(val), rel=1e-6)
    assert m["final_val_loss"] == pytest.approx(val[-1], rel=1e-6)

    files = sorted(p.name for p in paths.checkpoints.iterdir())
    best_epoch = int(np.argmin(val))
    best_name = f"epoch={best_epoch:02d}-val_loss={min(val):.4f}"
    assert files == sorted(
        ["best.soen", "last.jax.npz", "last.soen", f"{best_name}.jax.npz", f"{best_name}.soen"]
    )
    assert result.best_checkpoint == str(paths.checkpoints / f"{best_name}.jax.npz")
    assert jax_cli(["verify", str(paths.checkpoints / "last.jax.npz")]) == 0
    assert jax_cli(["verify", result.best_checkpoint, str(paths.checkpoints / "best.soen")]) == 0
    assert "PASS" in capsys.readouterr().out

    # constraints held through training: |J| <= 0.24 and the masked diagonal of 1_to_1 stays 0
    last = load_checkpoint(paths.checkpoints / "last.jax.npz")
    for name, w in last.params.items():
        if name.startswith("connections."):
            assert np.abs(w).max() <= 0.24 + 1e-7, name
    assert np.all(np.diag(last.params["connections.1_to_1"]) == 0.0)
    assert last.epoch == 4 and last.global_step == 4 * steps_per_epoch


def test_lr_and_loss_weight_schedules_act_per_step(tmp_path: Path, pulses_file: Path) -> None:
    cfg = tiny_config(
        tmp_path,
        pulses_file,
        max_epochs=2,
        losses=[{"name": "cross_entropy"}, {"name": "exp_high_state_penalty", "weight": 1.0}],
    )
    cfg.callbacks.lr_scheduler = {"type": "linear", "max_lr": 0.02, "min_lr": 0.001}
    cfg.callbacks.loss_weight_schedulers = [
        {
            "loss_name": "exp_high_state_penalty",
            "scheduler_type": "linear",
            "params": {"min_weight": 0.0, "max_weight": 2.0},
            "per_step": True,
        }
    ]
    cfg.model.time_pooling.params = {"scale": 1.0}
    cfg.callbacks.time_pooling_scale_scheduler.active = True
    cfg.callbacks.time_pooling_scale_scheduler.start_scale = 5.0
    cfg.callbacks.time_pooling_scale_scheduler.end_scale = 15.0
    paths, dm, model = repeat_inputs(cfg)
    from soen_train.training.run_paths import RunPaths  # noqa: F401  (paths come from the runner's class)

    train_jax_repeat(cfg, 0, paths, dm, model, loggers=default_loggers(cfg, paths))
    scalars = read_scalars(paths.logs)
    expected = build_lr_schedule(
        "linear", {"max_lr": 0.02, "min_lr": 0.001}, base_lr=0.02, steps_per_epoch=4, max_epochs=2
    )
    lrs = scalars["lr"]
    assert [s for s, _ in lrs] == list(range(8))
    for step, value in lrs:
        assert value == pytest.approx(expected.lr_at(step), rel=1e-6)
    weights = dict(scalars["callbacks/loss_weight_exp_high_state_penalty"])
    assert weights[0] == pytest.approx(0.0) and weights[7] == pytest.approx(2.0)
    assert [v for _, v in scalars["callbacks/time_pooling_scale"]] == [5.0, 15.0]


def test_early_stopping_on_val_loss(tmp_path: Path, pulses_file: Path) -> None:
    """With a vanishing LR val_loss never improves: patience 2 ends the run after 3 epochs."""
    cfg = tiny_config(tmp_path, pulses_file, max_epochs=10, early_stopping_patience=2)
    cfg.training.optimizer.name = "sgd"
    cfg.training.optimizer.lr = 1e-30
    paths, dm, model = repeat_inputs(cfg)
    result = JaxTrainer(cfg, paths, dm, model, loggers=[]).fit()
    assert result.metrics["epochs_trained"] == 3.0


def test_accumulation_and_batch_limits_count_optimiser_steps(
    tmp_path: Path, pulses_file: Path
) -> None:
    cfg = tiny_config(
        tmp_path,
        pulses_file,
        max_epochs=2,
        accumulate_grad_batches=2,
        limit_train_batches=3,
        checkpoint_save_top_k=0,
        gradient_clip_val=0.5,
    )
    paths, dm, model = repeat_inputs(cfg)
    trainer = JaxTrainer(cfg, paths, dm, model, loggers=[])
    trainer.fit()
    assert trainer.steps_per_epoch == 2  # 3 batches, 2 per step -> 2 steps (the last one alone)
    assert trainer.state.global_step == 4
    assert sorted(p.name for p in paths.checkpoints.iterdir()) == [
        "best.soen",
        "last.jax.npz",
        "last.soen",
    ]


def test_resume_continues_exactly_where_it_stopped(tmp_path: Path, pulses_file: Path) -> None:
    """2 epochs + resume to 3 == 3 epochs uninterrupted (weights, optimiser state, step)."""
    full_cfg = tiny_config(tmp_path / "full", pulses_file, max_epochs=3)
    paths, dm, model = repeat_inputs(full_cfg)
    full = JaxTrainer(full_cfg, paths, dm, model, loggers=[])
    full.fit()

    part_cfg = tiny_config(tmp_path / "part", pulses_file, max_epochs=2)
    paths, dm, model = repeat_inputs(part_cfg)
    JaxTrainer(part_cfg, paths, dm, model, loggers=[]).fit()
    resume_cfg = tiny_config(
        tmp_path / "part",
        pulses_file,
        max_epochs=3,
        train_from_checkpoint=str(paths.checkpoints / "last.jax.npz"),
    )
    paths, dm, model = repeat_inputs(resume_cfg)
    resumed = JaxTrainer(resume_cfg, paths, dm, model, loggers=[])
    result = resumed.fit()
    assert resumed.state.global_step == full.state.global_step == 12
    assert result.metrics["epochs_trained"] == 3.0
    for name, value in full.trainable.items():
        np.testing.assert_allclose(
            np.asarray(resumed.trainable[name]), np.asarray(value), rtol=1e-6, atol=1e-7
        )
    assert [r["val_loss"] for r in resumed.state.history] == pytest.approx(
        [r["val_loss"] for r in full.state.history]
    )


def test_jax_and_torch_models_agree_on_the_trained_weights(
    tmp_path: Path, pulses_file: Path
) -> None:
    """The .soen of a JAX run, loaded in torch, reproduces the JAX validation loss."""
    import torch
    import torch.nn.functional as F

    cfg = tiny_config(tmp_path, pulses_file, max_epochs=1)
    paths, dm, model = repeat_inputs(cfg)
    trainer = JaxTrainer(cfg, paths, dm, model, loggers=[])
    trainer.fit()
    torch_model = SOENModel.load(paths.checkpoints / "last.soen")
    losses, sizes = [], []
    with torch.no_grad():
        for x, y in dm.val_dataloader():
            pooled = torch_model(x)[:, 1:].amax(dim=1) * 20.0
            losses.append(float(F.cross_entropy(pooled, y)) * len(y))
            sizes.append(len(y))
    assert sum(losses) / sum(sizes) == pytest.approx(
        trainer.state.history[-1]["val_loss"], rel=1e-5
    )


def test_sequence_length_schedule_resamples_each_epoch(tmp_path: Path, pulses_file: Path) -> None:
    cfg = tiny_config(tmp_path, pulses_file, max_epochs=2)
    cfg.data.target_seq_len = 16
    cfg.callbacks.seq_len_scheduler.active = True
    cfg.callbacks.seq_len_scheduler.end_len = 24
    paths, dm, model = repeat_inputs(cfg)
    train_jax_repeat(cfg, 0, paths, dm, model, loggers=default_loggers(cfg, paths))
    assert [v for _, v in read_scalars(paths.logs)["callbacks/target_seq_len"]] == [16.0, 24.0]
    assert dm.seq_len == 24


def test_optuna_pruner_stops_the_run(
    tmp_path: Path, pulses_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside an Optuna trial the epoch's val_loss is reported and the pruner may stop the run."""
    import optuna
    from optuna.distributions import FloatDistribution

    from soen_train.sweeps.storage import open_storage
    from soen_train.sweeps.study_setup import open_study
    from soen_train.sweeps.trial_context import ENV_STORAGE, ENV_STUDY, ENV_TRIAL

    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = open_study(
        open_storage(url),
        "jax",
        ["minimize"],
        optuna.samplers.RandomSampler(0),
        {"_target_": "optuna.pruners.ThresholdPruner", "upper": 0.01},
    )
    trial = study.ask({"lr": FloatDistribution(1e-3, 1e-1)})
    monkeypatch.setenv(ENV_STORAGE, url)
    monkeypatch.setenv(ENV_STUDY, "jax")
    monkeypatch.setenv(ENV_TRIAL, str(trial.number))
    cfg = tiny_config(tmp_path, pulses_file, max_epochs=3)
    paths, dm, model = repeat_inputs(cfg)
    with pytest.raises(optuna.TrialPruned, match="epoch 0"):
        JaxTrainer(cfg, paths, dm, model, loggers=[]).fit()
    assert list(study.trials[0].intermediate_values) == [0]
