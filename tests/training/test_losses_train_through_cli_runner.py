"""Every loss that applies to a classification task trains through the real runner: the
training loss falls between the first and the last epoch (pulses, tiny settings, in process)."""

import json

import pytest
from hydra import compose, initialize_config_dir
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from soen_train.config.conf_dir import CONF_DIR
from soen_train.config.loading import to_job_config
from soen_train.config.store import register_configs
from soen_train.training.runner import run_job

# Classification losses alone; regularisers added to cross entropy.
LOSS_LISTS = {
    "cross_entropy": "[{name: cross_entropy}]",
    "top_gap_loss": "[{name: cross_entropy}, {name: top_gap_loss}]",
    "gap_loss": "[{name: gap_loss, params: {margin: 1.0}}]",
    "rich_margin_loss": "[{name: rich_margin_loss}]",
    "reg_J_loss": "[{name: cross_entropy}, {name: reg_J_loss, params: {threshold: 0.1}}]",
    "gravity_quantization_loss": "[{name: cross_entropy}, {name: gravity_quantization_loss, weight: 0.1, params: {bits: 3, min_val: -0.24, max_val: 0.24}}]",
    "get_off_the_ground_loss": "[{name: cross_entropy}, {name: get_off_the_ground_loss, weight: 0.1}]",
    "exp_high_state_penalty": "[{name: cross_entropy}, {name: exp_high_state_penalty, params: {threshold: 0.5}}]",
    "branching_loss": "[{name: cross_entropy}, {name: branching_loss, weight: 0.01}]",
    "local_expansion_loss": "[{name: cross_entropy}, {name: local_expansion_loss, weight: 0.01, params: {perturbation_scale: 0.001}}]",
    "average_state_magnitude_loss": "[{name: cross_entropy}, {name: average_state_magnitude_loss, weight: 0.1}]",
    "ensure_post_sample_decay": "[{name: cross_entropy}, {name: ensure_post_sample_decay, weight: 0.01}]",
    "final_timestep_zero_mse": "[{name: cross_entropy}, {name: final_timestep_zero_mse, weight: 0.01}]",
}


@pytest.mark.parametrize("loss", sorted(LOSS_LISTS))
def test_loss_trains_through_the_runner(loss, tmp_path):
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=[
                "+experiment=pulses",
                f"data.data_path={tmp_path / 'p.h5'}",
                "data.dataset_params.n_train=96",
                "data.dataset_params.n_val=32",
                "data.dataset_params.n_test=32",
                "data.dataset_params.seq_len=32",
                "training.max_epochs=3",
                "training.batch_size=16",
                f"logging.project_dir={tmp_path}",
                "logger=tensorboard",
                "logging.progress_bar=false",
                "training.checkpoint_save_last=false",
                f"training.loss.losses={LOSS_LISTS[loss]}",
            ],
        )
    objective = run_job(to_job_config(cfg), tmp_path / "job")
    result = json.loads((tmp_path / "job" / "soen_result.json").read_text())
    assert result["status"] == "completed" and objective == pytest.approx(result["objective"])
    logs = next(tmp_path.glob("project_soen/experiment_pulses/group_*/logs/repeat_0"))
    acc = EventAccumulator(str(logs))
    acc.Reload()
    losses = [e.value for e in acc.Scalars("train_loss")]
    assert len(losses) == 3
    assert losses[-1] < losses[0], losses
    if "}, {" in LOSS_LISTS[loss]:  # each term of a combination has its own tag
        assert f"train_loss/{loss}" in acc.Tags()["scalars"]
