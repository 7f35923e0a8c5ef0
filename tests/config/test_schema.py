"""The config schema: overrides are typed, unknown keys are errors naming the closest key."""

import subprocess
import sys

import pytest
from hydra import compose, initialize_config_dir

from soen_train.config.conf_dir import CONF_DIR
from soen_train.config.errors import ConfigError
from soen_train.config.loading import to_job_config
from soen_train.config.schema import SOENTrainConfig
from soen_train.config.store import register_configs
from soen_train.config.validation import check_override_key, validate


def _compose(overrides):
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=overrides)


def test_lr_shortcut_flows_into_optimizer():
    cfg = _compose(["training.lr=0.005"])
    assert cfg.training.optimizer.lr == 0.005
    cfg = _compose(["training.lr=0.005", "training.optimizer.lr=0.02"])
    assert cfg.training.optimizer.lr == 0.02
    assert cfg.training.lr == 0.005


def test_group_options_land_in_their_sections():
    cfg = _compose(["optimizer=lion", "time_pooling=ewa", "lr_scheduler=cosine", "loss=ce_reg_j"])
    assert cfg.training.optimizer.name == "lion"
    assert cfg.model.time_pooling.name == "ewa"
    assert cfg.model.time_pooling.params.min_weight == 0.2
    assert cfg.callbacks.lr_scheduler.type == "cosine"
    assert [item.name for item in cfg.training.loss.losses] == ["cross_entropy", "reg_J_loss"]
    # the cosine peak follows the lr shortcut
    cfg = _compose(["lr_scheduler=cosine", "training.lr=0.02"])
    assert cfg.callbacks.lr_scheduler.max_lr == 0.02


def test_override_types_are_checked():
    with pytest.raises(Exception, match="max_epochs"):
        _compose(["training.max_epochs=many"])


@pytest.mark.parametrize(
    "key, hint",
    [
        ("training.max_epoch", "training.max_epochs"),
        ("training.optimiser.lr", "training.optimizer.lr"),
        ("data.data_pth", "data.data_path"),
        ("logging.mlflow_activ", "logging.mlflow_active"),
    ],
)
def test_unknown_keys_name_the_closest(key, hint):
    with pytest.raises(ConfigError) as err:
        check_override_key(key)
    assert f"did you mean '{hint}'" in str(err.value)


def test_free_form_dict_keys_are_left_to_the_catalogs():
    check_override_key("callbacks.lr_scheduler.max_lr")
    check_override_key("model.time_pooling.params.n")
    check_override_key("training.optimizer.kwargs.weight_decay")


def _valid_cfg(**training):
    cfg = SOENTrainConfig()
    cfg.data.dataset = "pulses"
    cfg.model.architecture = {"layers": []}
    for k, v in training.items():
        setattr(cfg.training, k, v)
    return cfg


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("paradigm", "supervized", "did you mean 'supervised'"),
        ("mapping", "seq2stat", "seq2static"),
        ("batch_size", 0, "training.batch_size=0 must be >= 1"),
        ("precision", "8-bit", "training.precision"),
        ("test_checkpoint", "worst", "best, last"),
    ],
)
def test_invalid_values_are_rejected_with_valid_choices(field, value, message):
    with pytest.raises(ConfigError, match=message):
        validate(_valid_cfg(**{field: value}))


def test_incompatible_combinations_explained():
    cfg = _valid_cfg(paradigm="self_supervised", mapping="seq2static")
    with pytest.raises(ConfigError, match="needs training.mapping=seq2seq"):
        validate(cfg)


def test_missing_data_and_model_named():
    cfg = SOENTrainConfig()
    with pytest.raises(ConfigError, match="no data"):
        validate(cfg)
    cfg.data.dataset = "pulses"
    with pytest.raises(ConfigError, match="no model"):
        validate(cfg)


def test_to_job_config_returns_dataclasses():
    cfg = _compose(["+experiment=pulses"])
    job = to_job_config(cfg)
    assert isinstance(job, SOENTrainConfig)
    assert job.training.optimizer.lr == job.training.lr
    assert job.model.architecture["layers"][0]["layer_type"] == "Input"


def test_cfg_job_does_not_import_torch():
    code = (
        "import sys; from soen_train.cli import main; sys.argv=['soen-train','+experiment=pulses',"
        "'--cfg','job']\ntry:\n main()\nexcept SystemExit: pass\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "assert 'lightning' not in sys.modules, 'lightning imported'\nprint('CLEAN')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "CLEAN" in out.stdout, out.stderr
    assert "max_epochs" in out.stdout
