"""The translation of original training YAMLs key by key (no training): renamed, ignored,
refused and typo'd keys, the original's defaults, and the composed Hydra config."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from soen_train.config.conf_dir import CONF_DIR
from soen_train.config.errors import ConfigError
from soen_train.config.from_file_cli import expand_from_file, split_flags
from soen_train.config.guide_aliases import refusal, rewrite_overrides
from soen_train.config.loading import to_job_config
from soen_train.config.original_training_yaml import translate
from soen_train.config.store import register_configs

BASE = {
    "training": {"max_epochs": 3, "batch_size": 8},
    "data": {"data_path": "data.h5"},
    "model": {"architecture_yaml": "arch.yaml"},
}


def _doc(**sections):
    doc = {k: dict(v) for k, v in BASE.items()}
    for key, value in sections.items():
        doc.setdefault(key, {}).update(value) if isinstance(value, dict) else doc.__setitem__(key, value)
    return doc


def _compose(tmp_path, doc, *overrides):
    """The job config soen-train composes for ``doc`` (written as a file) plus overrides."""
    import yaml

    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(doc))
    args = rewrite_overrides(expand_from_file(["--from-file", str(path), *overrides]))
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=args)
    return to_job_config(cfg)


def test_legacy_and_renamed_forms(tmp_path, capsys):
    doc = _doc(
        training={"paradigm": "supervised", "losses": [{"name": "cross_entropy", "weight": 2.0}],
                  "optimizer": {"name": "adam", "lr": "1e-3"}, "tbptt_stride": 0},
        model={"backend": "pytorch", "time_pooling": "mean_range", "range_start": 2, "range_end": 9},
        logging={"track_gradients": True},
        callbacks={"quantized_accuracy": {"active": True, "bits": 2}},
        scheduler={"type": "linear", "max_lr": 0.01},
    )
    tr = translate(doc)
    renamed = dict(tr.renamed)
    assert renamed["training.losses"] == "training.loss.losses"
    assert renamed["model.backend"] == "training.backend"
    assert renamed["model.range_start"] == "model.time_pooling.params.range_start"
    assert renamed["logging.track_gradients"] == "logging.log_gradients"
    assert renamed["callbacks.quantized_accuracy"] == "callbacks.metrics.quantized_accuracy"
    assert renamed["scheduler"] == "callbacks.lr_scheduler"
    job = _compose(tmp_path, doc)
    assert job.training.loss.losses[0].weight == 2.0 and job.training.backend == "torch"
    assert job.model.time_pooling.name == "mean_range"
    assert job.model.time_pooling.params == {"range_start": 2, "range_end": 9, "scale": 1.0}
    assert job.logging.log_gradients is True and job.callbacks.metrics.quantized_accuracy.bits == 2
    assert job.callbacks.lr_scheduler == {"type": "linear", "max_lr": 0.01, "min_lr": 1e-6, "log_space": False}
    # "1e-3" (a string for PyYAML 1.1) is a number; optimizer.lr is our training.lr shortcut
    assert job.training.lr == 1e-3 and job.training.optimizer.lr == 1e-3
    assert job.training.tbptt_stride is None


def test_the_originals_defaults_are_written(tmp_path):
    job = _compose(tmp_path, _doc(training={"optimizer": {"name": "adam"}},
                                  callbacks={"lr_scheduler": {"type": "cosine"}}))
    assert job.training.optimizer.name == "adam"
    assert job.training.optimizer.kwargs == {"weight_decay": 1e-4}  # the original added it to every optimiser
    sched = job.callbacks.lr_scheduler
    assert (sched["warmup_epochs"], sched["max_lr"], sched["cycle_epochs"]) == (5, 1e-3, 50)
    assert job.logging.mlflow_active is False and job.training.deterministic is True
    assert job.training.checkpoint_save_top_k == 3 and job.training.save_initial_state is True
    # no scheduler block: the optimiser's lr stays
    job = _compose(tmp_path, _doc(training={"optimizer": {"name": "sgd", "lr": 0.05, "kwargs": {}}}))
    assert job.callbacks.lr_scheduler == {"type": "constant", "lr": None} and job.training.optimizer.kwargs == {}


def test_overrides_compose_on_top(tmp_path):
    job = _compose(tmp_path, _doc(), "training.max_epochs=7", "optimizer=lion", "logging.track_gradients=false")
    assert job.training.max_epochs == 7


@pytest.mark.parametrize("section, key, value, match", [
    ("training", "max_epoch", 2, r"'training.max_epoch' .*did you mean 'training.max_epochs'"),
    ("data", "target_seqlen", 5, r"did you mean 'data.target_seq_len'"),
    ("logging", "projet_name", "x", r"did you mean 'logging.project_name'"),
    ("callbacks", "noise_anealers", [], r"did you mean 'callbacks.noise_annealers'"),
    ("profiler", "activ", True, r"did you mean 'profiler.active'"),
])
def test_typos_name_the_closest_key(section, key, value, match):
    with pytest.raises(ConfigError, match=match):
        translate(_doc(**{section: {key: value}}))


def test_typos_inside_lists_and_schedules():
    doc = _doc(callbacks={"noise_annealers": [{"key": "phi", "target": "noise", "start_valu": 0.1}]})
    with pytest.raises(ConfigError, match=r"'callbacks.noise_annealers\[0\].start_valu'.*'callbacks.noise_annealers\[0\].start_value'"):
        translate(doc)
    with pytest.raises(ConfigError, match=r"'callbacks.lr_scheduler.warmup_epoch' .*did you mean 'callbacks.lr_scheduler.warmup_epochs'"):
        translate(_doc(callbacks={"lr_scheduler": {"type": "cosine", "warmup_epoch": 2}}))
    with pytest.raises(ConfigError, match=r"'training.loss.losses\[0\].wieght'.*did you mean"):
        translate(_doc(training={"loss": {"losses": [{"name": "mse", "wieght": 1}]}}))


def test_ignored_keys_are_warned_and_dropped():
    doc = _doc(data={"sequence_length": 100, "augmentation": True}, logging={"console_level": "INFO"},
               callbacks={"connection_noise": {"connections": ["0_to_1"], "std": 0.01, "seed": 3}},
               training={"loss": {"losses": [{"name": "ensure_post_sample_decay", "params": {"extra_zero_step": True, "num_zero_steps": 4}}]}})
    tr = translate(doc)
    ignored = dict(tr.ignored)
    assert set(ignored) == {"data.sequence_length", "data.augmentation", "logging.console_level",
                            "callbacks.connection_noise.seed", "training.loss.losses[0].params.extra_zero_step"}
    assert "sequence_length" not in tr.config["data"]
    assert tr.config["training"]["loss"]["losses"][0]["params"] == {"zero_input_steps": 4}
    assert "seed" not in tr.config["callbacks"]["connection_noise"]


@pytest.mark.parametrize("section, value, match", [
    ({"training": {"ar": {"enabled": True}}}, None, "autoregressive"),
    ({"data": {"synthetic": True}}, None, "data.dataset"),
    ({"logging": {"upload_logs_and_checkpoints": True}}, None, "S3"),
    ({"callbacks": {"qat": {"active": True, "stochastic_rounding": True}}}, None, "nearest level"),
    ({"callbacks": {"noise_annealers": [{"key": "phi", "target": "noise", "percent_of_param": True}]}}, None, "broken"),
    ({"training": {"mapping": "static2static"}}, None, "seq2static"),
    ({"training": {"loss": {"losses": [{"name": "autoregressive_loss"}]}}}, None, "autoregressive_cross_entropy"),
    ({"cloud": {"active": True}}, None, "launcher=slurm"),
])
def test_behaviour_without_counterpart_is_refused_with_what_to_use(section, value, match):
    doc = _doc()
    for key, part in section.items():
        doc.setdefault(key, {}).update(part)
    with pytest.raises(ConfigError, match=match):
        translate(doc)


def test_no_op_values_of_unsupported_keys_pass_silently():
    doc = _doc(training={"ar": {"enabled": False}, "use_cloud": False, "prefetch_factor": None},
               data={"synthetic": False, "one_hot_dtype": "float32"},
               callbacks={"stateful_training": {"enable_for_training": True, "verbose": False},
                          "qat": {"active": False, "stochastic_rounding": False}},
               logging={"log_batch_metrics": False, "log_model": True}, cloud={"active": False})
    tr = translate(doc)
    assert tr.ignored == []
    assert tr.config["callbacks"]["stateful_training"] == {"enable_for_training": True}


def test_paradigm_pooling_and_scheduler_value_renames():
    tr = translate(_doc(training={"paradigm": "unsupervised", "mapping": "seq2seq"},
                        callbacks={"lr_scheduler": {"type": "adaptive", "monitor_metric": "val_loss/total"}}))
    assert tr.config["training"]["paradigm"] == "self_supervised"
    assert tr.config["callbacks"]["lr_scheduler"]["monitor_metric"] == "val_loss"
    tr = translate(_doc(callbacks={"time_pooling_scale_scheduler": {"start_scale": 1.0, "end_scale": 3.0}},
                        model={"base_model_path": "net.yaml"}))
    assert tr.config["callbacks"]["time_pooling_scale_scheduler"]["active"] is True
    assert tr.config["model"]["architecture_yaml"] == "net.yaml" and "base_model_path" not in tr.config["model"]
    tr = translate(_doc(training={"distillation": {"teacher_model_path": "t.soen"}}))
    assert tr.config["training"]["paradigm"] == "distillation" and tr.config["training"]["mapping"] == "seq2seq"


def test_guide_key_aliases_on_the_command_line():
    assert rewrite_overrides(["logging.track_gradients=true", "model.backend=jax", "-m", "optimizer=adam"]) == [
        "logging.log_gradients=true", "training.backend=jax", "-m", "optimizer=adam"]
    for key in ("network_evaluation_method", "sim_config.track_s", "callbacks.stateful_training.verbose"):
        with pytest.raises(ConfigError, match="a key of the original SOEN toolkit"):
            rewrite_overrides([f"{key}=true"])
    assert "simulation.track_s" in refusal("sim_config.track_s")


def test_flags_keep_their_values_and_overrides_stay_together():
    flags, overrides = split_flags(["a=1", "--cfg", "job", "-m", "b=2", "--info", "c=3"])
    assert flags == ["--cfg", "job", "-m", "--info"] and overrides == ["a=1", "b=2", "c=3"]


def test_cli_override_alias_and_refusal_end_to_end(capsys):
    from soen_train.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["+experiment=pulses", "sim_config.track_s=false"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "simulation.track_s" in err[0]


def test_composed_file_round_trips_through_hydra_struct_mode(tmp_path):
    job = _compose(tmp_path, _doc(logging={"metrics": ["accuracy", "perplexity"], "state_trajectories": {"active": True, "class_ids": None}}))
    assert list(job.logging.metrics) == ["accuracy", "perplexity"] and job.logging.state_trajectories.active
    assert OmegaConf.structured(job) is not None
