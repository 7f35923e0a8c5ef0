"""Paradigms and the profiler through the real runner (in process, tiny data)."""

import json

import h5py
import pytest
import torch
from hydra import compose, initialize_config_dir

from soen_train.config.conf_dir import CONF_DIR
from soen_train.config.errors import ConfigError
from soen_train.config.loading import to_job_config
from soen_train.config.store import register_configs
from soen_train.model import SOENModel
from soen_train.training.runner import run_job

TINY = [
    "data.dataset_params.n_train=64", "data.dataset_params.n_val=32", "data.dataset_params.n_test=32",
    "data.dataset_params.seq_len=32", "training.max_epochs=2", "training.batch_size=16",
    "logger=tensorboard", "logging.progress_bar=false",
]


def _job(tmp_path, *overrides):
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[
            "+experiment=pulses", f"data.data_path={tmp_path / 'p.h5'}",
            f"logging.project_dir={tmp_path / 'exp'}", *TINY, *overrides])
    return to_job_config(cfg)


def _result(tmp_path, *overrides):
    run_job(_job(tmp_path, *overrides), tmp_path / "job")
    return json.loads((tmp_path / "job" / "soen_result.json").read_text())


def test_distillation_student_learns_the_teacher_trajectories(tmp_path):
    teacher = tmp_path / "teacher.soen"
    arch = _job(tmp_path).model.architecture
    SOENModel.from_yaml(arch, seed=123).save(teacher)
    result = _result(tmp_path, "training.paradigm=distillation", "training.mapping=seq2seq",
                     "loss=mse", f"training.distillation.teacher_model_path={teacher}",
                     "logging.metrics=[]", "training.max_epochs=3")
    assert result["status"] == "completed"
    logs = tmp_path / "exp" / "project_soen" / "experiment_pulses" / "group_default_group" / "logs"
    (cached,) = logs.rglob("distillation_data.h5")
    with h5py.File(cached, "r") as f:
        x, teacher_states = torch.tensor(f["val/data"][:]), torch.tensor(f["val/labels"][:])
    untrained = SOENModel.from_yaml(arch, seed=42)  # the student before training (run seed 42)
    with torch.no_grad():
        before = torch.nn.functional.mse_loss(untrained(x)[:, 1:], teacher_states).item()
    assert result["repeats"][0]["metrics"]["val_loss"] < before


def test_distillation_without_a_teacher_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="teacher_model_path"):
        _job(tmp_path, "training.paradigm=distillation", "training.mapping=seq2seq", "loss=mse")


def test_simple_profiler_writes_its_report(tmp_path):
    result = _result(tmp_path, "profiler.active=true", "profiler.type=simple",
                     "profiler.num_train_batches=2", "profiler.output_filename=prof")
    assert result["status"] == "completed"
    reports = list((tmp_path / "exp").rglob("*prof*.txt"))
    assert reports and "Action" in reports[0].read_text()
