"""Translates a training YAML of the original SOEN toolkit into a soen-train experiment.

The original runs ``train path/to/training_config.yaml``: one file with the sections
``training``, ``data``, ``model``, ``logging``, ``profiler``, ``callbacks`` (plus ``seed``,
``description``, ``name`` and a legacy top-level ``scheduler``). ``translate`` walks that file
key by key against the original's whole vocabulary (the user guide and the original trainer's
schema) and writes the same settings in soen-train's schema:

- a key with the same meaning and name is copied;
- a renamed key is moved to our name and reported (``old -> new``);
- a key that the original itself ignored (dead fields such as ``data.sequence_length``) is
  dropped with a warning;
- a key whose original behaviour soen-train does not have is accepted only with its no-op
  value, otherwise refused with a message naming what to use;
- anything else is a typo: refused, naming the closest key of that section.

Where the original's defaults differ from soen-train's and change results (optimiser
weight decay, cosine warm-up, MLflow off, top-3 checkpoints, deterministic, initial
checkpoint), the original's value is written explicitly so the file means what it meant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

import yaml

from soen_train.config import schema
from soen_train.config.errors import ConfigError
from soen_train.config.guide_aliases import KEY_ALIASES
from soen_train.config.original_yaml_handlers import (
    handle_ar,
    handle_backend,
    handle_base_model_path,
    handle_distillation,
    handle_every_n,
    handle_legacy_losses,
    handle_legacy_scheduler,
    handle_loss,
    handle_lr_scheduler,
    handle_mapping,
    handle_metrics,
    handle_mlflow_experiment,
    handle_optimizer,
    handle_paradigm,
    handle_pooling_scale_scheduler,
    handle_positive_or_none,
    handle_quantized_accuracy,
    handle_range,
    handle_time_pooling,
)
from soen_train.config.original_yaml_walk import (
    ListOf,
    Section,
    TranslationContext,
    as_bool,
    coerce_bool,
    falsy,
    ignored,
    is_one_of,
    noop_unless,
    optional_same,
    same,
    walk,
)


@dataclass
class Translation:
    """The translated config and what changed on the way."""

    #: Nested dict in soen-train's schema (the body of a `# @package _global_` experiment).
    config: Dict[str, Any]
    #: Config-group choices the experiment overrides (group -> option or None).
    groups: Dict[str, Optional[str]]
    #: (original key, soen-train key or value) for every renamed key.
    renamed: List[Tuple[str, str]] = field(default_factory=list)
    #: (original key, why) for every key the original ignored (or that has no effect here).
    ignored: List[Tuple[str, str]] = field(default_factory=list)
    #: (soen-train key, value) written because the original's default differs from ours.
    defaults: List[Tuple[str, str]] = field(default_factory=list)



# ---------------------------------------------------------------------------------- vocabulary

_DATALOADER = "soen-train's data is in memory; its loaders choose worker settings themselves"

TRAINING = Section(
    {
        "paradigm": handle_paradigm,
        "mapping": handle_mapping,
        "backend": handle_backend,
        "num_nodes": optional_same(),
        "strategy": optional_same(),
        "devices": optional_same(),
        "deterministic": as_bool(),
        "checkpoint_every_n_epochs": handle_every_n,
        "tbptt_stride": handle_positive_or_none("training.tbptt_stride"),
        "optimizer": handle_optimizer,
        "loss": handle_loss,
        "losses": handle_legacy_losses,
        "distillation": handle_distillation,
        "ar": handle_ar,
        "autoregressive": handle_ar,
        "time_steps_per_token": noop_unless(is_one_of(1, None), "belongs to the original's autoregressive mode"),
        "autoregressive_start_timestep": noop_unless(is_one_of(0, None), "belongs to the original's autoregressive mode"),
        "autoregressive_mode": noop_unless(is_one_of("next_token", None), "belongs to the original's autoregressive mode"),
        "persistent_workers": noop_unless(lambda v: True, "", warn=_DATALOADER),
        "prefetch_factor": noop_unless(is_one_of(None), "", warn=_DATALOADER),
        "multiprocessing_context": noop_unless(is_one_of(None), "", warn=_DATALOADER),
        "use_cloud": noop_unless(falsy, "cloud (SageMaker) jobs are not part of soen-train; use launcher=slurm"),
        "classification": ignored("not a field of the original (its only reader never ran)"),
        "use_tbptt": as_bool(),
        "save_soen_core_in_checkpoint": as_bool(),
        "save_initial_state": as_bool(),
        "checkpoint_save_last": as_bool(),
        "checkpoint_save_all_epochs": as_bool(),
        "alternate_losses": as_bool(),
    },
    schema.TrainingConfig,
)

DATA = Section(
    {
        "input_encoding": lambda ctx, p, v: (
            ctx.rename_value(p, p, v, "raw") if v == "embedding" else ctx.put(p, v)
        ),
        "num_classes": optional_same(),
        "one_hot_dtype": noop_unless(is_one_of("float32", None), "soen-train's one-hot inputs are float32"),
        "synthetic": noop_unless(falsy, "use a built-in dataset instead: data.dataset: pulses (or digits, mnist)"),
        "synthetic_kwargs": noop_unless(falsy, "use data.dataset_params of a built-in dataset"),
        "csv_data_paths": noop_unless(falsy, "soen-train reads HDF5 files: convert the CSV splits to train/val/test groups"),
        "sequence_length": ignored("the original only printed it"),
        "augmentation": ignored("the original never used it"),
        "augmentation_kwargs": ignored("the original never used it"),
        "cache_data": as_bool(),
    },
    schema.DataConfig,
)

MODEL = Section(
    {
        "base_model_path": handle_base_model_path,
        "model_path": lambda ctx, p, v: ctx.rename(p, KEY_ALIASES["model.model_path"], v),
        "time_pooling": handle_time_pooling,
        "range_start": handle_range,
        "range_end": handle_range,
        "backend": handle_backend,
        "user_set_time_pooling": ignored("set by the original's loader itself"),
        "load_exact_model_state": as_bool(),
        "dt_learnable": as_bool(),
    },
    schema.ModelConfig,
)

STATE_TRAJECTORIES = Section(
    {
        "class_ids": noop_unless(is_one_of(None), "soen-train plots the first num_samples samples of the split"),
        "neuron_indices": noop_unless(is_one_of(None), "soen-train plots the first max_neurons_per_sample nodes"),
    },
    schema.StateTrajectoriesConfig,
)

_UNUSED = "the original never used it"

LOGGING = Section(
    {
        "track_gradients": same(KEY_ALIASES["logging.track_gradients"]),
        "metrics": handle_metrics,
        "mlflow_experiment_name": handle_mlflow_experiment,
        "console_level": ignored("unused by the original's runner"),
        "save_code": ignored(_UNUSED),
        "custom_metrics": ignored(_UNUSED),
        "connection_params_probing": ignored(_UNUSED),
        "log_batch_metrics": noop_unless(
            falsy, "", warn="soen-train logs train_loss_step every log_freq steps and train metrics per epoch"
        ),
        "log_model": noop_unless(lambda v: True, ""),
        "gradient_stats": noop_unless(
            lambda v: not (isinstance(v, Mapping) and coerce_bool(v.get("active", False))),
            "soen-train has no gradient-statistics file; use logging.log_gradients for gradient norms",
        ),
        "upload_logs_and_checkpoints": noop_unless(falsy, "S3 mirroring is not part of soen-train; sync the project_dir yourself"),
        "s3_upload_url": noop_unless(is_one_of(None), "S3 mirroring is not part of soen-train"),
        "state_trajectories": STATE_TRAJECTORIES,
        "mlflow_active": as_bool(),
        "track_connections": as_bool(),
        "track_layer_params": as_bool(),
        "log_gradients": as_bool(),
        "project_dir": optional_same(),
    },
    schema.LoggingConfig,
)

PROFILER = Section(
    {
        "trace_start_batch": ignored("used only by the original's JAX backend"),
        "trace_duration_batches": ignored("used only by the original's JAX backend"),
        "active": as_bool(),
    },
    schema.ProfilerConfig,
)

NOISE_ANNEALER = Section(
    {
        "relative": noop_unless(falsy, "soen-train's annealed noise std is absolute"),
        "percent_of_param": noop_unless(falsy, "was broken in the original (it wrote nothing); give absolute stds"),
        "verbose": noop_unless(lambda v: True, ""),
    },
    schema.NoiseAnnealerConfig,
)

LOSS_WEIGHT_SCHEDULER = Section(
    {
        "verbose": noop_unless(lambda v: True, ""),
        "scheduler_category": ignored("descriptive only in the original"),
    },
    schema.LossWeightSchedulerConfig,
)

STATEFUL = Section(
    {
        "verbose": noop_unless(
            falsy, "", warn="only switched the original's log lines about each carry-over; soen-train writes none"
        ),
    },
    schema.StatefulTrainingConfig,
)

QAT = Section(
    {
        "update_on_train_epoch_start": noop_unless(falsy, "soen-train snaps to its fixed codebook every forward"),
        "stochastic_rounding": noop_unless(falsy, "soen-train's QAT rounds to the nearest level"),
    },
    schema.QuantizationConfig,
)

CONNECTION_NOISE = Section(
    {
        "per_step": noop_unless(is_one_of(True, None), "soen-train draws connection noise once per forward (per step)"),
        "log_every_n_steps": noop_unless(lambda v: True, ""),
        "seed": ignored("the original created a generator from it but never drew from it"),
    },
    schema.ConnectionNoiseConfig,
)

CALLBACKS = Section(
    {
        "lr_scheduler": handle_lr_scheduler,
        "noise_annealers": ListOf(NOISE_ANNEALER),
        "loss_weight_schedulers": ListOf(LOSS_WEIGHT_SCHEDULER),
        "time_pooling_scale_scheduler": handle_pooling_scale_scheduler,
        "stateful_training": STATEFUL,
        "quantized_accuracy": handle_quantized_accuracy,
        "metrics": Section({"quantized_accuracy": handle_quantized_accuracy}, schema.CallbackMetricsConfig),
        "qat": QAT,
        "connection_noise": CONNECTION_NOISE,
    },
    schema.CallbacksConfig,
)

ROOT = Section(
    {
        "training": TRAINING,
        "data": DATA,
        "model": MODEL,
        "logging": LOGGING,
        "profiler": PROFILER,
        "callbacks": CALLBACKS,
        "scheduler": handle_legacy_scheduler,
        "seed": same(),
        "description": same(),
        "name": ignored("cosmetic in the original (runs are named by logging.*_name)"),
        "cloud": lambda ctx, p, v: noop_unless(
            lambda b: not (isinstance(b, Mapping) and coerce_bool(b.get("active", False))),
            "cloud (SageMaker) jobs are not part of soen-train; use launcher=slurm",
        )(ctx, p, v),
        "simulation": ignored("the original ignores a top-level simulation block (it belongs in the architecture YAML)"),
        "sim_config": ignored("the original ignores a top-level sim_config block (it belongs in the architecture YAML)"),
    },
)


# ---------------------------------------------------------------------------------- defaults

#: The original's defaults that differ from soen-train's and change what a run does.
ORIGINAL_DEFAULTS: Dict[str, Any] = {
    "training.deterministic": True,
    "training.checkpoint_save_top_k": 3,
    "training.save_initial_state": True,
    "logging.mlflow_active": False,
}


class _YamlLoader(yaml.SafeLoader):
    """PyYAML with YAML 1.2 floats, so `1e-3` is a number (the original read it as a string
    and converted it in some places only)."""


_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def load_original_yaml(path: Path) -> Dict[str, Any]:
    """Read an original training YAML; a clear error when it is missing or not a mapping."""
    if not path.is_file():
        raise ConfigError(f"--from-file: no such file: {path}")
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_YamlLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as err:
        first = str(err).strip().splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML ({first})") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: a training config is a mapping with sections training, data, model, ...")
    return doc


def translate(doc: Mapping[str, Any], source: str = "<config>") -> Translation:
    """Translate the original training config ``doc`` (already parsed) into soen-train's schema."""
    ctx = TranslationContext(source)
    ctx.source_doc = doc  # type: ignore[attr-defined]
    walk(ctx, doc, ROOT, "")
    out = ctx.out
    if out.pop("_pooling_none", False):
        mapping = ctx.get("training.mapping", "seq2static")
        if mapping != "seq2seq":
            raise ctx.error("model.time_pooling", "= 'none' needs training.mapping: seq2seq (or a distillation block)")
    model = out.get("model", {})
    if model.get("base_model_path") and model.get("architecture_yaml"):
        model.pop("architecture_yaml")
        ctx.ignore("model.architecture_yaml", "the original builds from base_model_path when both are set")
    if model.get("architecture_yaml") and "load_exact_model_state" in model:
        if model["load_exact_model_state"]:
            ctx.ignore("model.load_exact_model_state", "not applicable to architecture_yaml in the original")
        model.pop("load_exact_model_state")
    if not model.get("base_model_path") and "base_model_path" in model:
        model.pop("base_model_path")
    written: List[Tuple[str, str]] = []
    for key, value in ORIGINAL_DEFAULTS.items():
        if key not in ctx.given and ctx.get(key) is None:
            ctx.put(key, value)
            written.append((key, repr(value)))
    if "training.optimizer.kwargs" not in ctx.given and ctx.get("training.optimizer.kwargs") is not None:
        written.append(("training.optimizer.kwargs", "{'weight_decay': 0.0001}"))
    if ctx.get("training.optimizer") is None:
        ctx.put("training.optimizer", {"name": "adamw", "kwargs": {"weight_decay": 1e-4}})
        written.append(("training.optimizer", "adamw, {'weight_decay': 0.0001}"))
    groups: Dict[str, Optional[str]] = {"optimizer": None, "lr_scheduler": None}
    if ctx.get("training.loss.losses") is not None:
        groups["loss"] = None
    if ctx.get("model.time_pooling") is not None:
        # the pooling's own group option, so every key of its params exists when merged
        groups["time_pooling"] = _group_option("time_pooling", ctx.get("model.time_pooling.name"))
    if ctx.get("callbacks.lr_scheduler") is None:
        # no scheduler in the file: the original kept the optimiser's lr
        ctx.put("callbacks.lr_scheduler", {"type": "constant", "lr": None})
    return Translation(
        config=out, groups=groups, renamed=ctx.renamed, ignored=ctx.ignored, defaults=written
    )


def _group_option(group: str, name: Any) -> Optional[str]:
    """``name`` when it is an option of config group ``group`` (a file in conf/)."""
    from soen_train.config.conf_dir import CONF_DIR

    folder = CONF_DIR / group
    return str(name) if (folder / f"{name}.yaml").is_file() else None


def experiment_yaml(tr: Translation, source: str) -> str:
    """The translation as a `# @package _global_` experiment file."""
    header = [
        "# @package _global_",
        f"# Translated from the original SOEN toolkit's training config {source}",
        "# by `soen-train --from-file`; edit it like any other experiment.",
    ]
    doc: Dict[str, Any] = {}
    if tr.groups:
        doc["defaults"] = [{f"override /{g}": opt} for g, opt in tr.groups.items()]
    doc.update(tr.config)
    body = yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, allow_unicode=True)
    return "\n".join(header) + "\n" + body


def report_lines(tr: Translation, source: str) -> List[str]:
    """The one table printed before the run: renamed keys, ignored keys, original defaults."""
    rows: List[Tuple[str, str, str]] = []
    rows += [("renamed", old, new) for old, new in tr.renamed]
    rows += [("default", key, f"{value} (the original's default)") for key, value in tr.defaults]
    rows += [("ignored", old, why) for old, why in tr.ignored]
    lines = [f"soen-train --from-file {source}: original training config translated"]
    if not rows:
        lines.append("  (every key has the same name here)")
        return lines
    width = max(len(r[1]) for r in rows)
    lines.append(f"  {'':8} {'original key':{width}}    soen-train")
    for kind, old, new in rows:
        arrow = "->" if kind != "ignored" else "  "
        prefix = "Warning: ignored" if kind == "ignored" else kind
        lines.append(f"  {prefix:8} {old:{width}} {arrow} {new}")
    return lines
