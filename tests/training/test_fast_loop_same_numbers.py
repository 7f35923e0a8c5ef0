"""The fast training loop changes no number: a tiny pulses run through the real runner logs the
per-epoch (and per-log-step) metrics and writes the checkpoints that the DataLoader-based loop
produced before the device batches and the per-step savings (values captured from that code,
same seed and settings)."""

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from soen_train.config.conf_dir import CONF_DIR
from soen_train.config.loading import to_job_config
from soen_train.config.store import register_configs
from soen_train.training.runner import run_job

EXPECTED_SCALARS = {
    'train_loss': [(5, 0.653855), (11, 0.6321962), (17, 0.6033545)],
    'train_loss_step': [(0, 0.616182), (2, 0.7194534), (4, 0.64598), (6, 0.6090278), (8, 0.5654142), (10, 0.6255518), (12, 0.5777594), (14, 0.5434011), (16, 0.5378892)],
    'train_accuracy': [(5, 0.5), (11, 0.5), (17, 0.5)],
    'val_loss': [(5, 0.6286147), (11, 0.6092425), (17, 0.5883849)],
    'val_accuracy': [(5, 0.5), (11, 0.5), (17, 0.5)],
    'test_loss': [(18, 0.5842035)],
    'test_accuracy': [(18, 0.5)],
    'lr': [(0, 0.01), (2, 0.01), (4, 0.01), (6, 0.01), (8, 0.01), (10, 0.01), (12, 0.01), (14, 0.01), (16, 0.01)],
}
EXPECTED_PARAMETER_SUMS = {
    'model.layers.1.phi_offset': 0.1,
    'model.layers.1.bias_current': 9.8444622,
    'model.layers.1.gamma_plus': 0.0025,
    'model.layers.1.gamma_minus': 5e-06,
    'model.connections.0_to_1.weight': 1.1007196,
    'model.connections.0_to_1.mask': 5.0,
    'model.connections.1_to_1.weight': 0.2508441,
    'model.connections.1_to_1.mask': 20.0,
    'model.connections.1_to_2.weight': 1.8881349,
    'model.connections.1_to_2.mask': 10.0,
}
EXPECTED_CHECKPOINTS = ['epoch=02-val_loss=0.5884.ckpt', 'last.ckpt']


def _tiny_pulses_run(tmp_path: Path) -> Path:
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=[
                "+experiment=pulses",
                f"data.data_path={tmp_path / 'p.h5'}",
                "data.dataset_params.n_train=88",  # 6 batches of 16, the last one of 8
                "data.dataset_params.n_val=24",
                "data.dataset_params.n_test=24",
                "data.dataset_params.seq_len=24",
                "training.max_epochs=3",
                "training.batch_size=16",
                f"logging.project_dir={tmp_path}",
                "logger=tensorboard",
                "logging.progress_bar=false",
                "logging.log_freq=2",
                "logging.metrics=[accuracy]",
            ],
        )
    run_job(to_job_config(cfg), tmp_path / "job")
    return next(tmp_path.glob("project_soen/experiment_pulses/group_*"))


def test_tiny_run_logs_and_checkpoints_the_numbers_of_the_dataloader_loop(tmp_path):
    group = _tiny_pulses_run(tmp_path)
    events = EventAccumulator(str(group / "logs" / "repeat_0"))
    events.Reload()
    for tag, expected in EXPECTED_SCALARS.items():
        logged = [(e.step, e.value) for e in events.Scalars(tag)]
        assert [s for s, _ in logged] == [s for s, _ in expected], tag
        assert [v for _, v in logged] == pytest.approx([v for _, v in expected], abs=2e-6), tag
    checkpoints = group / "checkpoints" / "repeat_0"
    assert sorted(p.name for p in checkpoints.glob("*.ckpt")) == EXPECTED_CHECKPOINTS
    state = torch.load(checkpoints / "last.ckpt", weights_only=False)["state_dict"]
    sums = {k: float(v.double().sum()) for k, v in state.items()}
    assert sums == pytest.approx(EXPECTED_PARAMETER_SUMS, abs=2e-6)
