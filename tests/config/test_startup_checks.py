"""Pieces of the checks made before Hydra starts: key walking, group order, batch limits,
sweep expansion, strict YAML, and that valid files pass the file checks."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from safetensors.numpy import save_file

from soen_train.config.conf_dir import CONF_DIR
from soen_train.config.errors import ConfigError
from soen_train.config.keys import check_override_key
from soen_train.config.overrides import job_override_lists, normalise_group_additions
from soen_train.config.store import register_configs
from soen_train.config.validation import batch_limit
from soen_train.preflight.checkpoint_files import check_checkpoint_file
from soen_train.preflight.soen_files import check_soen_file
from soen_train.preflight.yaml_files import load_yaml_strict


@pytest.mark.parametrize("key", [
    "+training.fast_dev_run", "++training.loss.losses.0.nme", "callbacks.qat.bitz", "model.simulation.dt",
])
def test_added_keys_are_checked_like_set_keys(key):
    with pytest.raises(ConfigError, match="unknown config key"):
        check_override_key(key)


@pytest.mark.parametrize("key", [
    "+training.loss.losses.0.params.margin", "+model.architecture.simulation.dt",
    "+data.dataset_params.n_train", "+callbacks.lr_scheduler.warmup_epochs",
    "training.loss.losses.1.weight", "+logging.mlflow_tags.team",
])
def test_free_form_dicts_and_list_items_take_their_keys(key):
    check_override_key(key)


def test_debug_goes_last_and_groups_in_the_defaults_lose_their_plus():
    args = normalise_group_additions(["debug=fast", "+experiment=pulses", "+optimizer=lion", "seed=1"])
    assert args == ["+experiment=pulses", "optimizer=lion", "seed=1", "+debug=fast"]
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=args)
    assert cfg.training.max_epochs == 1  # the debug overlay wins over the experiment's 10
    assert cfg.training.limit_train_batches == 4 and isinstance(cfg.training.limit_train_batches, int)
    assert cfg.training.optimizer.name == "lion"


@pytest.mark.parametrize("value, expected", [(1, 1), (4, 4), (1.0, 1.0), (0.25, 0.25), (4.0, 4), (None, None)])
def test_batch_limits_keep_counts_as_integers(value, expected):
    out = batch_limit("training.limit_val_batches", value)
    assert out == expected and type(out) is type(expected)


def test_lightning_reads_an_integer_limit_of_1_as_one_batch():
    from soen_train.training.trainer_factory import _limit

    assert _limit(1) == 1 and isinstance(_limit(1), int)
    assert _limit(1.0) == 1.0 and isinstance(_limit(1.0), float)


def test_sweeps_expand_into_every_job():
    jobs = job_override_lists(["seed=1", "training.lr=0.1,0.2", "loss=mse,cross_entropy",
                               "training.batch_size=interval(8,64)"])
    assert len(jobs) == 4 and all(j[0] == "seed=1" for j in jobs)
    assert {tuple(j[1:]) for j in jobs} == {
        ("training.lr=0.1", "loss=mse"), ("training.lr=0.1", "loss=cross_entropy"),
        ("training.lr=0.2", "loss=mse"), ("training.lr=0.2", "loss=cross_entropy")}


def test_strict_yaml_names_the_line_of_a_duplicate(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text("a: 1\nb:\n  c: 2\n  c: 3\n")
    with pytest.raises(ConfigError, match=r"a.yaml:4: duplicate key 'c' \(first at line 3\)"):
        load_yaml_strict(path, "x")
    path.write_text("a: [1, 2]\nb: {c: 2}\n")
    assert load_yaml_strict(path, "x") == {"a": [1, 2], "b": {"c": 2}}


def test_valid_soen_and_checkpoint_files_pass(tmp_path):
    spec = {"layers": [{"layer_id": 0, "params": {"dim": 3}}, {"layer_id": 1, "params": {"dim": 2}}]}
    save_file({"connections.0_to_1.weight": np.zeros((2, 3), np.float32)}, str(tmp_path / "m.soen"),
              metadata={"format": "soen_train/1", "spec": json.dumps(spec)})
    check_soen_file(str(tmp_path / "m.soen"), "model.base_model_path")
    spec["layers"][1]["params"]["dim"] = 2000
    save_file({"connections.0_to_1.weight": np.zeros((2, 3), np.float32)}, str(tmp_path / "bad.soen"),
              metadata={"format": "soen_train/1", "spec": json.dumps(spec)})
    with pytest.raises(ConfigError, match=r"\[2000, 3\].*\[2, 3\]"):
        check_soen_file(str(tmp_path / "bad.soen"), "model.base_model_path")
    with zipfile.ZipFile(tmp_path / "c.ckpt", "w") as z:
        z.writestr("c/data.pkl", b"\x80\x02}.")
    check_checkpoint_file(str(tmp_path / "c.ckpt"), "training.train_from_checkpoint")


def test_a_real_checkpoint_passes(tmp_path):
    import torch

    torch.save({"state_dict": {"w": torch.ones(3)}, "epoch": 1}, tmp_path / "last.ckpt")
    check_checkpoint_file(str(tmp_path / "last.ckpt"), "training.train_from_checkpoint")
    data = (tmp_path / "last.ckpt").read_bytes()
    (tmp_path / "cut.ckpt").write_bytes(data[: len(data) - 30])
    with pytest.raises(ConfigError, match="cut.ckpt"):
        check_checkpoint_file(str(tmp_path / "cut.ckpt"), "training.train_from_checkpoint")
