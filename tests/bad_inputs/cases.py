"""The table of bad inputs: each a command line (``{in}`` = the folder of bad files) and the
text its one `Error:` line must contain (the key, file or value at fault)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List, Tuple

# A tiny, valid pulses job; every case adds what makes it bad.
BASE = [
    "+experiment=pulses",
    "data.dataset_params.n_train=64",
    "data.dataset_params.n_val=32",
    "data.dataset_params.n_test=32",
    "data.dataset_params.seq_len=24",
    "training.max_epochs=1",
    "logging.progress_bar=false",
    "hydra.run.dir=run",
    "hydra.sweep.dir=sweep",
]
# Cases whose check needs the model/loss catalogs (they import torch and Lightning).
CATALOG = "catalog"
NO_GPU = "no_gpu"  # only bad on a machine without a GPU
NOT_ROOT = "not_root"  # permissions do not stop root


@dataclass(frozen=True)
class Case:
    """One bad input: its id, the extra arguments and the text the error must name."""

    id: str
    args: Tuple[str, ...]
    names: str
    tags: Tuple[str, ...] = ()
    base: bool = True  # start from BASE

    def argv(self, inputs: Path, multirun: bool) -> List[str]:
        """The command line, with ``{in}`` filled; a 2-job sweep for ``multirun``."""
        args = [a.replace("{in}", str(inputs)) for a in self.args]
        full = [*(BASE if self.base else []), *args]
        if multirun:
            full = ["-m", *full, "logging.group_name=a,b"]
        return full

    def expected(self, inputs: Path) -> str:
        return self.names.replace("{in}", str(inputs))


def _c(id: str, *args: str, names: str, tags: Tuple[str, ...] = (), base: bool = True) -> Case:
    return Case(id, tuple(args), names, tags, base)


H5 = ("data.dataset=null",)  # use a file of the table instead of the built-in maker

CASES: List[Case] = [
    # ---- keys the schema does not have (with and without +)
    _c("plus_cloud_section", "+cloud.role=worker", names="cloud.role"),
    _c("plus_trainer_option", "+trainer.fast_dev_run=true", names="trainer.fast_dev_run"),
    _c("plus_training_key", "+training.fast_dev_run=true", names="training.fast_dev_run"),
    _c("plus_callback_key", "+callbacks.stateful_training.verbose=true", names="callbacks.stateful_training.verbose"),
    _c("plus_model_key", "+model.simulation.network_evaluation_method=stepwise", names="model.simulation"),
    _c("plus_loss_item_key", "+training.loss.losses.0.nme=x", names="training.loss.losses.0.nme"),
    _c("double_plus_key", "++training.max_epocs=3", names="training.max_epochs"),
    _c("misspelt_key", "training.max_epoch=3", names="training.max_epochs"),
    _c("misspelt_section", "trainig.lr=0.1", names="trainig.lr"),
    _c("unknown_top_level", "foo=1", names="foo"),
    # ---- wrong types and values
    _c("int_from_text", "training.max_epochs=abc", names="training.max_epochs"),
    _c("bool_from_text", "training.deterministic=maybe", names="training.deterministic"),
    _c("lr_inf", "training.lr=inf", names="training.lr"),
    _c("lr_nan", "training.lr=nan", names="training.lr"),
    _c("lr_negative", "training.lr=-0.1", names="training.lr"),
    _c("optimizer_lr_inf", "training.optimizer.lr=inf", names="training.optimizer.lr"),
    _c("clip_inf", "training.gradient_clip_val=inf", names="training.gradient_clip_val"),
    _c("dt_nan", "model.dt=nan", names="model.dt"),
    _c("seed_negative", "seed=-1", names="seed=-1"),
    _c("seed_too_big", "seed=4294967296", names="seed=4294967296"),
    _c("split_seed_negative", "data.split_seed=-5", names="data.split_seed"),
    _c("val_batches_zero", "training.limit_val_batches=0", names="training.limit_val_batches"),
    _c("train_batches_fraction_above_1", "training.limit_train_batches=1.5", names="training.limit_train_batches"),
    _c("train_batches_text", "training.limit_train_batches=many", names="training.limit_train_batches"),
    _c("overfit_negative", "training.overfit_batches=-2", names="training.overfit_batches"),
    _c("batch_size_zero", "training.batch_size=0", names="training.batch_size"),
    _c("repeats_zero", "training.num_repeats=0", names="training.num_repeats"),
    _c("top_k_below", "training.checkpoint_save_top_k=-2", names="training.checkpoint_save_top_k"),
    _c("val_split_above_1", "data.val_split=1.5", names="data.val_split"),
    _c("min_scale_alone", "data.min_scale=0.0", names="data.min_scale"),
    _c("paradigm_typo", "training.paradigm=supervized", names="supervized"),
    _c("precision_unknown", "training.precision=8-bit", names="8-bit"),
    _c("profiler_with_stack", "profiler.active=true", "profiler.type=pytorch", "profiler.record_shapes=true",
       "profiler.profile_memory=true", "profiler.with_stack=true", "profiler.num_train_batches=3",
       names="profiler.num_train_batches=3"),
    _c("profiler_batches_zero", "profiler.num_train_batches=0", names="profiler.num_train_batches"),
    # ---- group options
    _c("unknown_loss_option", "loss=nope", names="nope"),
    _c("unknown_optimizer_option", "optimizer=adamz", names="adamz"),
    _c("unknown_debug_option", "debug=nope", names="nope"),
    _c("unknown_experiment", "+experiment=nope", names="nope", base=False),
    _c("arch_null", "arch=null", names="arch"),
    _c("no_arch", "~arch", names="model.architecture_yaml"),
    # ---- objective and combinations
    _c("objective_unknown", "training.objective_metric=foo", names="foo"),
    _c("objective_train_metric", "training.objective_metric=train_loss", names="train_loss"),
    _c("extra_objective_unknown", "training.extra_objective_metrics=[val_acc]", names="val_acc"),
    _c("tbptt_longer_than_sequence", "training.use_tbptt=true", "training.tbptt_steps=500", names="training.tbptt_steps=500"),
    _c("self_supervised_seq2static", "training.paradigm=self_supervised", names="training.mapping"),
    _c("distillation_without_teacher", "training.paradigm=distillation", "training.mapping=seq2seq", "loss=mse",
       names="teacher_model_path"),
    # ---- the machine
    _c("gpu_without_gpu", "training.accelerator=gpu", names="training.accelerator=gpu", tags=(NO_GPU,)),
    _c("cuda_without_gpu", "training.accelerator=cuda", names="training.accelerator=cuda", tags=(NO_GPU,)),
    _c("mps_off_mac", "training.accelerator=mps", names="training.accelerator=mps"),
    _c("fp16_on_cpu", "training.precision=16-mixed", names="training.precision=16-mixed", tags=(NO_GPU,)),
    _c("fp16_forced_cpu", "training.accelerator=cpu", "training.precision=16-mixed", names="training.precision=16-mixed"),
    # ---- catalog names (need the catalogs, still before any setup)
    _c("pooling_typo", "model.time_pooling.name=maxx", names="maxx", tags=(CATALOG,)),
    _c("optimizer_name_typo", "training.optimizer.name=adamz", names="adamz", tags=(CATALOG,)),
    _c("scheduler_typo", "callbacks.lr_scheduler.type=cosinex", names="cosinex", tags=(CATALOG,)),
    _c("layer_type_typo", "model.architecture.layers.1.layer_type=Foo", names="Foo", tags=(CATALOG,)),
    _c("source_func_typo", "model.architecture.layers.1.params.source_func=Heaviside_fit",
       names="model.architecture: layer 1.params.source_func: unknown source function 'Heaviside_fit'", tags=(CATALOG,)),
    _c("loss_param_unknown", "+training.loss.losses.0.params.foo=1",
       names="training.loss.losses[0] ('cross_entropy'): loss 'cross_entropy': unknown parameter 'foo'", tags=(CATALOG,)),
    _c("pooling_param_unknown", "+model.time_pooling.params.nn=2",
       names="model.time_pooling: time pooling 'final': unknown parameter 'nn'", tags=(CATALOG,)),
    _c("pooling_unknown", "model.time_pooling.name=maxx", "training.mapping=seq2static",
       names="model.time_pooling: unknown time pooling 'maxx' (did you mean 'max'?)", tags=(CATALOG,)),
    _c("callback_param_qat_no_bits", "callbacks.qat.active=true", names="callbacks.qat: give bits", tags=(CATALOG,)),
    _c("callback_param_seq_len_end", "callbacks.seq_len_scheduler.active=true", "callbacks.seq_len_scheduler.start_len=4",
       names="callbacks.seq_len_scheduler.end_len is null", tags=(CATALOG,)),
    # ---- checkpoints
    _c("ckpt_missing", "training.train_from_checkpoint={in}/missing.ckpt", names="{in}/missing.ckpt"),
    _c("ckpt_empty", "training.train_from_checkpoint={in}/empty.ckpt", names="{in}/empty.ckpt"),
    _c("ckpt_truncated", "training.train_from_checkpoint={in}/truncated.ckpt", names="{in}/truncated.ckpt"),
    _c("ckpt_corrupt", "training.train_from_checkpoint={in}/corrupt.ckpt", names="{in}/corrupt.ckpt"),
    _c("ckpt_text", "training.train_from_checkpoint={in}/text.ckpt", names="{in}/text.ckpt"),
    _c("ckpt_folder", "training.train_from_checkpoint={in}/folder.ckpt", names="{in}/folder.ckpt"),
    _c("ckpt_zip_not_torch", "training.train_from_checkpoint={in}/no_pickle.ckpt", names="{in}/no_pickle.ckpt"),
    # ---- .soen model files
    _c("soen_spec_dim_15000", "~arch", "model.base_model_path={in}/dim15000.soen", names="{in}/dim15000.soen"),
    _c("soen_truncated", "~arch", "model.base_model_path={in}/truncated.soen", names="{in}/truncated.soen"),
    _c("soen_random_bytes", "~arch", "model.base_model_path={in}/random.soen", names="{in}/random.soen"),
    _c("soen_empty", "~arch", "model.base_model_path={in}/empty.soen", names="{in}/empty.soen"),
    _c("soen_missing", "~arch", "model.base_model_path={in}/missing.soen", names="{in}/missing.soen"),
    _c("teacher_corrupt", "training.paradigm=distillation", "training.mapping=seq2seq", "loss=mse",
       "training.distillation.teacher_model_path={in}/dim15000.soen", names="{in}/dim15000.soen"),
    # ---- architecture files
    _c("arch_yaml_duplicate_key", "~arch", "model.architecture_yaml={in}/dup_key_arch.yaml", names="dup_key_arch.yaml:"),
    _c("arch_yaml_python_tag", "~arch", "model.architecture_yaml={in}/python_tag_arch.yaml", names="python_tag_arch.yaml"),
    _c("arch_yaml_bad_syntax", "~arch", "model.architecture_yaml={in}/bad_syntax_arch.yaml", names="bad_syntax_arch.yaml"),
    _c("arch_yaml_not_mapping", "~arch", "model.architecture_yaml={in}/list_arch.yaml", names="list_arch.yaml"),
    _c("arch_yaml_missing", "~arch", "model.architecture_yaml={in}/missing.yaml", names="{in}/missing.yaml"),
    _c("base_model_yaml_duplicate", "~arch", "model.base_model_path={in}/dup_key_arch.yaml", names="dup_key_arch.yaml"),
    # ---- config files of a user's config folder
    _c("config_duplicate_key", "--config-dir", "{in}/dup_cfg", "+experiment=mine", names="mine.yaml:", base=False),
    _c("config_python_tag", "--config-dir", "{in}/tag_cfg", "+experiment=mine", names="mine.yaml", base=False),
    _c("config_unknown_key", "--config-dir", "{in}/unknown_key_cfg", "+experiment=mine", "hydra.run.dir=run",
       "hydra.sweep.dir=sweep", names="training.max_epochz", base=False),
    _c("flag_unknown", "--not-a-flag", names="--not-a-flag"),
    _c("search_param_key_typo", "--config-dir", "{in}/search_cfg", "hparams_search=mine", names="training.lrr"),
    _c("optuna_bad_fixed_value", "hparams_search=optuna", "training.lr=inf", names="training.lr"),
    _c("optuna_interval_key_typo", "hparams_search=optuna", "training.lrr=interval(0.001,0.1)", names="training.lrr"),
    _c("config_dir_missing", "--config-dir", "{in}/no_such_dir", names="no_such_dir"),
    # ---- HDF5 data files
    _c("h5_float_labels", *H5, "data.data_path={in}/float_labels.h5", names="float_labels.h5"),
    _c("h5_whole_float_labels", *H5, "data.data_path={in}/whole_float_labels.h5", names="astype"),
    _c("h5_single_class", *H5, "data.data_path={in}/single_class.h5", names="single class"),
    _c("h5_uint8_255", *H5, "data.data_path={in}/uint8_255.h5", names="255"),
    _c("h5_num_classes_mismatch", *H5, "data.data_path={in}/good.h5", "data.num_classes=5", names="data.num_classes=5"),
    _c("h5_declared_vs_given", *H5, "data.data_path={in}/declares_3.h5", "data.num_classes=3", names="data.num_classes=3"),
    _c("h5_negative_label", *H5, "data.data_path={in}/negative_label.h5", names="-3"),
    _c("h5_no_labels", *H5, "data.data_path={in}/no_labels.h5", names="labels"),
    _c("h5_rank2_inputs", *H5, "data.data_path={in}/rank2.h5", names="rank2.h5"),
    _c("h5_not_hdf5", *H5, "data.data_path={in}/not_hdf5.h5", names="not_hdf5.h5"),
    _c("h5_empty_file", *H5, "data.data_path={in}/empty.h5", names="empty.h5"),
    _c("h5_missing", *H5, "data.data_path={in}/missing.h5", names="{in}/missing.h5"),
    _c("h5_is_folder", *H5, "data.data_path={in}/a_folder.h5", names="a_folder.h5"),
    _c("h5_tbptt_longer", *H5, "data.data_path={in}/good.h5", "training.use_tbptt=true",
       "training.tbptt_steps=100", names="training.tbptt_steps=100"),
    _c("no_data", *H5, names="data.data_path"),
    # ---- folders
    _c("run_dir_under_file", "hydra.run.dir={in}/a_file/run", "hydra.sweep.dir={in}/a_file/sweep", names="{in}/a_file"),
    _c("run_dir_is_a_file", "hydra.run.dir={in}/a_file", "hydra.sweep.dir={in}/a_file", names="{in}/a_file"),
    _c("project_dir_under_file", "logging.project_dir={in}/a_file/x", names="logging.project_dir"),
    _c("dataset_dir_under_file", "data.data_path={in}/a_file/pulses.h5", names="data.data_path"),
    _c("read_only_project_dir", "logging.project_dir={in}/read_only/x", names="logging.project_dir", tags=(NOT_ROOT,)),
]
