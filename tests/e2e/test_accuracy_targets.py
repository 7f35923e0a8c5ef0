"""The shipped experiments learn their tasks with default settings (in process, CPU)."""

import json

import pytest
from hydra import compose, initialize_config_dir

from soen_train.config.conf_dir import CONF_DIR
from soen_train.config.loading import to_job_config
from soen_train.config.store import register_configs
from soen_train.training.runner import run_job


@pytest.mark.parametrize(
    "experiment, target", [("pulses", 0.95), ("digits", 0.85), ("mnist1d", 0.85)]
)
def test_default_experiment_reaches_its_test_accuracy(experiment, target, tmp_path):
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=[
                f"+experiment={experiment}",
                f"data.data_path={tmp_path / 'data.h5'}",
                f"logging.project_dir={tmp_path}",
                "logger=tensorboard",
                "logging.progress_bar=false",
            ],
        )
    run_job(to_job_config(cfg), tmp_path / "job")
    result = json.loads((tmp_path / "job" / "soen_result.json").read_text())
    assert result["repeats"][0]["metrics"]["test_accuracy"] >= target
