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

import dataclasses
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import yaml

from soen_train.config import schema
from soen_train.config.errors import ConfigError
from soen_train.config.guide_aliases import KEY_ALIASES
from soen_train.registry import closest

Handler = Callable[["_Ctx", str, Any], None]


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


class _Ctx:
    """Collects the output tree and the report while one file is walked."""

    def __init__(self, source: str, prefix: str = "") -> None:
        self.source = source
        self.prefix = prefix  # where this (list entry's) mapping sits, for messages
        self.out: Dict[str, Any] = {}
        self.renamed: List[Tuple[str, str]] = []
        self.ignored: List[Tuple[str, str]] = []
        self.given: set = set()

    def put(self, path: str, value: Any) -> None:
        node = self.out
        parts = path.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
        self.given.add(path)

    def get(self, path: str, default: Any = None) -> Any:
        node: Any = self.out
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def rename(self, old: str, new: str, value: Any) -> None:
        self.put(new, value)
        self.renamed.append((old, new))

    def rename_value(self, path: str, target: str, old: Any, new: Any) -> None:
        """A value the original spelled differently (``unsupervised`` -> ``self_supervised``)."""
        self.put(target, new)
        shown = "null" if new is None else new
        self.renamed.append((f"{path}: {old}", f"{target}: {shown}"))

    def ignore(self, old: str, why: str) -> None:
        self.ignored.append((old, why))

    def error(self, path: str, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: '{self.prefix}{path}' {message}")


# ---------------------------------------------------------------------------------- actions
# Each action is a handler ``fn(ctx, original_path, value)``.


def same(new: Optional[str] = None) -> Handler:
    """Copy the value to ``new`` (default: the same path)."""

    def handle(ctx: _Ctx, path: str, value: Any) -> None:
        target = new or path
        if target == path:
            ctx.put(target, value)
        else:
            ctx.rename(path, target, value)

    return handle


def optional_same(new: Optional[str] = None) -> Handler:
    """Copy the value unless it is null (our field is not optional; null means our default)."""
    inner = same(new)

    def handle(ctx: _Ctx, path: str, value: Any) -> None:
        if value is not None:
            inner(ctx, path, value)

    return handle


def ignored(why: str) -> Handler:
    """A key the original read but never used: dropped with a warning."""

    def handle(ctx: _Ctx, path: str, value: Any) -> None:
        ctx.ignore(path, why)

    return handle


def noop_unless(is_noop: Callable[[Any], bool], refusal: str, warn: Optional[str] = None) -> Handler:
    """A key whose behaviour soen-train lacks: fine (dropped) with its no-op value, else refused.

    ``warn`` turns a refusal into a dropped-with-warning row (for log-only switches).
    """

    def handle(ctx: _Ctx, path: str, value: Any) -> None:
        if is_noop(value):
            return
        if warn is not None:
            ctx.ignore(path, warn)
            return
        raise ctx.error(path, f"= {value!r}: {refusal}")

    return handle


def _falsy(value: Any) -> bool:
    return value in (None, False, 0, "", [], {}) or str(value).lower() in ("false", "no", "off", "0")


def _is(*values: Any) -> Callable[[Any], bool]:
    return lambda v: v in values


@dataclass(frozen=True)
class Section:
    """A nested mapping of the original: its keys' handlers; ``schema_cls`` adds our own keys."""

    keys: Mapping[str, Any]
    schema_cls: Optional[type] = None


@dataclass(frozen=True)
class ListOf:
    """A list of mappings, each walked with ``section``; written to ``target``."""

    section: Section
    target: Optional[str] = None


# ---------------------------------------------------------------------------------- helpers


def _coerce_bool(value: Any) -> Any:
    if isinstance(value, str) and value.lower() in ("true", "yes", "on", "1"):
        return True
    if isinstance(value, str) and value.lower() in ("false", "no", "off", "0"):
        return False
    return value


def _bool(new: Optional[str] = None) -> Handler:
    inner = same(new)

    def handle(ctx: _Ctx, path: str, value: Any) -> None:
        inner(ctx, path, _coerce_bool(value))

    return handle


def _paradigm(ctx: _Ctx, path: str, value: Any) -> None:
    if value == "unsupervised":
        ctx.rename_value(path, path, value, "self_supervised")
        return
    ctx.put(path, value)


def _mapping(ctx: _Ctx, path: str, value: Any) -> None:
    if value in ("static2seq", "static2static"):
        raise ctx.error(
            path, f"= {value!r}: the original accepted it without any code path of its own; use "
            "training.mapping: seq2static (pooled output) or seq2seq (one label per step)"
        )
    ctx.put(path, value)


BACKEND_ALIASES = {"pytorch": "torch", "pl": "torch", "lightning": "torch", "": "torch", None: "torch"}


def _backend(ctx: _Ctx, path: str, value: Any) -> None:
    target = "training.backend"
    text = BACKEND_ALIASES.get(value, value)
    if text not in ("torch", "jax"):
        raise ctx.error(path, f"= {value!r}: choose torch or jax")
    if path != target:
        ctx.rename(path, target, text)
    elif text != value:
        ctx.rename_value(path, target, value, text)
    else:
        ctx.put(target, text)


def _positive_or_none(new: str) -> Handler:
    """tbptt_stride: null or <= 0 meant tbptt_steps in the original (our null)."""

    def handle(ctx: _Ctx, path: str, value: Any) -> None:
        if value is not None and value <= 0:
            ctx.rename_value(path, new, value, None)
            return
        ctx.put(new, value)

    return handle


def _every_n(ctx: _Ctx, path: str, value: Any) -> None:
    ctx.put(path, 1 if value is None or value <= 0 else value)


def _optimizer(ctx: _Ctx, path: str, value: Any) -> None:
    if not isinstance(value, Mapping):
        raise ctx.error(path, f"= {value!r} must be a mapping {{name, lr, kwargs, param_groups}}")
    _walk(ctx, value, OPTIMIZER, path)
    if "lr" in value:
        # the original's construction lr; soen-train's optimiser lr follows training.lr, which
        # also feeds the LR schedules' defaults
        ctx.out["training"]["optimizer"].pop("lr", None)
        ctx.rename(f"{path}.lr", "training.lr", value["lr"])
    if "kwargs" not in value:
        ctx.put(f"{path}.kwargs", {"weight_decay": 1e-4})
        ctx.given.discard(f"{path}.kwargs")
    if "name" not in value:
        ctx.put(f"{path}.name", "adamw")


def _loss_item(ctx: _Ctx, path: str, item: Any) -> Dict[str, Any]:
    from soen_train.training.losses.param_aliases import LOSS_PARAM_ALIASES

    if isinstance(item, str):
        item = {"name": item}
    if not isinstance(item, Mapping):
        raise ctx.error(path, f"= {item!r} must be a mapping {{name, weight, params}}")
    for key in item:
        if key not in ("name", "weight", "params"):
            hint = closest(str(key), ["name", "weight", "params"])
            extra = f" (did you mean '{path}.{hint}'?)" if hint else ""
            raise ctx.error(f"{path}.{key}", f"is not a key of a loss entry{extra}; an entry has name, weight, params")
    name = item.get("name")
    if name in REFUSED_LOSSES:
        raise ctx.error(f"{path}.name", f"= {name!r}: {REFUSED_LOSSES[name]}")
    out: Dict[str, Any] = {"name": name, "weight": float(item.get("weight", 1.0))}
    params = dict(item.get("params") or {})
    aliases = LOSS_PARAM_ALIASES.get(str(name), {})
    for key in list(params):
        if key in aliases:
            params[aliases[key]] = params.pop(key)
            ctx.renamed.append((f"{path}.params.{key}", f"{path}.params.{aliases[key]}"))
        elif (name, key) in IGNORED_LOSS_PARAMS:
            params.pop(key)
            ctx.ignore(f"{path}.params.{key}", IGNORED_LOSS_PARAMS[(name, key)])
    if params:
        out["params"] = params
    return out


#: Loss names of the original with no soen-train loss of that meaning.
REFUSED_LOSSES = {
    "autoregressive_loss": "the original's legacy AR loss; use autoregressive_cross_entropy",
    "stub": "the original's placeholder that always returns 0; remove the entry",
    "mse_gradient_cutoff": "was never registered in the original; use mse",
}

#: (loss, param) pairs the original accepted but never used.
IGNORED_LOSS_PARAMS = {
    ("ensure_post_sample_decay", "extra_zero_step"): "the original never used it",
}


def _loss_list(ctx: _Ctx, path: str, items: Any) -> None:
    if not isinstance(items, list):
        raise ctx.error(path, f"= {items!r} must be a list of {{name, weight, params}}")
    ctx.put("training.loss.losses", [_loss_item(ctx, f"{path}[{i}]", it) for i, it in enumerate(items)])


def _loss(ctx: _Ctx, path: str, value: Any) -> None:
    if isinstance(value, list):  # legacy: training.loss given as the list itself
        ctx.renamed.append((path, "training.loss.losses"))
        _loss_list(ctx, path, value)
        return
    if not isinstance(value, Mapping):
        raise ctx.error(path, f"= {value!r} must be a mapping with 'losses'")
    for key in value:
        if key != "losses":
            raise ctx.error(f"{path}.{key}", "is not a key of training.loss; it has only 'losses'")
    _loss_list(ctx, f"{path}.losses", value.get("losses") or [])


def _legacy_losses(ctx: _Ctx, path: str, value: Any) -> None:
    ctx.renamed.append((path, "training.loss.losses"))
    _loss_list(ctx, path, value)


def _distillation(ctx: _Ctx, path: str, value: Any) -> None:
    if value is None:
        return
    _walk(ctx, value, DISTILLATION, path)
    # the block's presence forces paradigm distillation and full-sequence targets (as the original)
    ctx.put("training.paradigm", "distillation")
    ctx.put("training.mapping", "seq2seq")


def _ar(ctx: _Ctx, path: str, value: Any) -> None:
    enabled = _coerce_bool(value.get("enabled", False)) if isinstance(value, Mapping) else _coerce_bool(value)
    if enabled:
        raise ctx.error(
            path, "enables the original's autoregressive mode, which soen-train does not have; "
            "train next-token prediction with training.mapping: seq2seq and loss "
            "autoregressive_cross_entropy on shifted targets in the HDF5 file"
        )


def _time_pooling(ctx: _Ctx, path: str, value: Any) -> None:
    if isinstance(value, str):
        name, params = value, {}
        ctx.renamed.append((f"{path}: {value}", f"{path}.name: {value}"))
    elif isinstance(value, Mapping):
        for key in value:
            if key not in ("name", "params"):
                hint = closest(str(key), ["name", "params"])
                extra = f" (did you mean '{path}.{hint}'?)" if hint else ""
                raise ctx.error(f"{path}.{key}", f"is not a key of model.time_pooling{extra}; it has name, params")
        name, params = value.get("name", "max"), dict(value.get("params") or {})
    else:
        raise ctx.error(path, f"= {value!r} must be a pooling name or {{name, params}}")
    if name == "none":
        ctx.ignore(path, "pooling 'none' keeps the whole sequence: soen-train does so for seq2seq")
        ctx.put("_pooling_none", True)
        return
    params.setdefault("scale", 1.0)
    earlier = ctx.get("model.time_pooling.params") or {}  # model.range_start/range_end seen first
    ctx.put("model.time_pooling", {"name": name, "params": {**earlier, **params}})


def _range(ctx: _Ctx, path: str, value: Any) -> None:
    leaf = path.rsplit(".", 1)[1]
    ctx.rename(path, f"model.time_pooling.params.{leaf}", value)


def _base_model_path(ctx: _Ctx, path: str, value: Any) -> None:
    if isinstance(value, str) and value.lower().endswith((".yaml", ".yml")):
        ctx.rename(path, "model.architecture_yaml", value)  # the original built it as a spec
        return
    if isinstance(value, str) and value.lower().endswith(".ckpt"):
        raise ctx.error(path, f"= {value!r}: a .ckpt is resumed with training.train_from_checkpoint")
    same("model.base_model_path")(ctx, path, value)


def _metrics(ctx: _Ctx, path: str, value: Any) -> None:
    names = []
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, Mapping):
            raise ctx.error(
                path, f"entry {dict(item)!r}: soen-train's epoch metrics are accuracy, perplexity "
                "and bits_per_character (given by name)"
            )
        names.append(item)
    ctx.put(path, names)


def _mlflow_experiment(ctx: _Ctx, path: str, value: Any) -> None:
    ctx.ignore(path, "deprecated and ignored by the original (MLflow used logging.experiment_name)")


def _lr_scheduler(ctx: _Ctx, path: str, value: Any) -> None:
    from soen_train.training.lr_schedules import LR_SCHEDULES, schedule_parameters

    if not isinstance(value, Mapping):
        raise ctx.error(path, f"= {value!r} must be a mapping {{type, ...parameters}}")
    params = dict(value)
    kind = params.pop("type", "constant")
    if kind not in LR_SCHEDULES:
        hint = closest(str(kind), LR_SCHEDULES.names(with_aliases=True))
        extra = f" (did you mean '{hint}'?)" if hint else ""
        raise ctx.error(f"{path}.type", f"= {kind!r} is not an LR schedule{extra}; valid: {', '.join(LR_SCHEDULES.names())}")
    kind = LR_SCHEDULES.canonical(str(kind))
    ours = schedule_parameters(kind)
    out: Dict[str, Any] = {}
    for key, val in params.items():
        where = f"{path}.{key}"
        if kind == "greedy" and key == "warmup" and isinstance(val, Mapping):
            enabled = _coerce_bool(val.get("enabled", True))
            out["warmup_epochs"] = val.get("epochs", 0) if enabled else 0
            if "start_lr" in val:
                out["warmup_start_lr"] = val["start_lr"]
            ctx.renamed.append((where, f"{path}.warmup_epochs / warmup_start_lr"))
            continue
        if kind == "greedy" and key == "intra_epoch":
            noop_unless(_falsy, "the original's intra-epoch rule crashed at its first check; "
                        "soen-train's greedy schedule acts once per validation")(ctx, where, val)
            continue
        if kind == "greedy" and key in ("adjustment_frequency", "ema_beta"):
            ctx.ignore(where, "used only by the original's intra_epoch rule")
            continue
        if key in ("debug", "verbose"):
            noop_unless(_falsy, "", warn="log-only switch of the original; soen-train logs the LR as lr-<optimiser>")(ctx, where, val)
            continue
        if key == "monitor_metric" and isinstance(val, str) and "/" in val:
            new = val.replace("/total", "").replace("/", "_")
            ctx.renamed.append((f"{where}: {val}", f"{where}: {new}"))
            val = new
        if key not in ours:
            hint = closest(str(key), list(ours))
            extra = f" (did you mean '{path}.{hint}'?)" if hint else ""
            raise ctx.error(where, f"is not a parameter of the '{kind}' LR schedule{extra}; valid: {', '.join(ours)}")
        out[key] = val
    # the original's defaults for everything the file leaves out (our group files differ)
    full = {"type": kind, **{k: v for k, v in ours.items()}, **out}
    ctx.put(path if path.startswith("callbacks.") else "callbacks.lr_scheduler", full)


def _legacy_scheduler(ctx: _Ctx, path: str, value: Any) -> None:
    if "lr_scheduler" in (ctx.source_doc.get("callbacks") or {}):  # type: ignore[attr-defined]
        ctx.ignore(path, "the original uses callbacks.lr_scheduler when both are given")
        return
    ctx.renamed.append((path, "callbacks.lr_scheduler"))
    _lr_scheduler(ctx, "callbacks.lr_scheduler", value)


def _pooling_scale_scheduler(ctx: _Ctx, path: str, value: Any) -> None:
    if not value:
        return
    _walk(ctx, value, POOLING_SCALE, path)
    if "active" not in value:  # the original ran it whenever the block was non-empty
        ctx.put(f"{path}.active", True)


def _quantized_accuracy(ctx: _Ctx, path: str, value: Any) -> None:
    target = "callbacks.metrics.quantized_accuracy"
    if path != target:
        ctx.renamed.append((path, target))
    _walk(ctx, value, QUANTIZED_ACCURACY, target)


# ---------------------------------------------------------------------------------- vocabulary

_DATALOADER = "soen-train's data is in memory; its loaders choose worker settings themselves"

TRAINING = Section(
    {
        "paradigm": _paradigm,
        "mapping": _mapping,
        "backend": _backend,
        "num_nodes": optional_same(),
        "strategy": optional_same(),
        "devices": optional_same(),
        "deterministic": _bool(),
        "checkpoint_every_n_epochs": _every_n,
        "tbptt_stride": _positive_or_none("training.tbptt_stride"),
        "optimizer": _optimizer,
        "loss": _loss,
        "losses": _legacy_losses,
        "distillation": _distillation,
        "ar": _ar,
        "autoregressive": _ar,
        "time_steps_per_token": noop_unless(_is(1, None), "belongs to the original's autoregressive mode"),
        "autoregressive_start_timestep": noop_unless(_is(0, None), "belongs to the original's autoregressive mode"),
        "autoregressive_mode": noop_unless(_is("next_token", None), "belongs to the original's autoregressive mode"),
        "persistent_workers": noop_unless(lambda v: True, "", warn=_DATALOADER),
        "prefetch_factor": noop_unless(_is(None), "", warn=_DATALOADER),
        "multiprocessing_context": noop_unless(_is(None), "", warn=_DATALOADER),
        "use_cloud": noop_unless(_falsy, "cloud (SageMaker) jobs are not part of soen-train; use launcher=slurm"),
        "classification": ignored("not a field of the original (its only reader never ran)"),
        "use_tbptt": _bool(),
        "save_soen_core_in_checkpoint": _bool(),
        "save_initial_state": _bool(),
        "checkpoint_save_last": _bool(),
        "checkpoint_save_all_epochs": _bool(),
        "alternate_losses": _bool(),
    },
    schema.TrainingConfig,
)

OPTIMIZER = Section({"kwargs": same(), "param_groups": same()}, schema.OptimizerConfig)

DISTILLATION = Section(
    {
        "subset_fraction": noop_unless(
            _is(1.0, 1, None), "soen-train keeps the first N samples: use training.distillation.max_samples"
        ),
    },
    schema.DistillationConfig,
)

DATA = Section(
    {
        "input_encoding": lambda ctx, p, v: (
            ctx.rename_value(p, p, v, "raw") if v == "embedding" else ctx.put(p, v)
        ),
        "num_classes": optional_same(),
        "one_hot_dtype": noop_unless(_is("float32", None), "soen-train's one-hot inputs are float32"),
        "synthetic": noop_unless(_falsy, "use a built-in dataset instead: data.dataset: pulses (or digits, mnist)"),
        "synthetic_kwargs": noop_unless(_falsy, "use data.dataset_params of a built-in dataset"),
        "csv_data_paths": noop_unless(_falsy, "soen-train reads HDF5 files: convert the CSV splits to train/val/test groups"),
        "sequence_length": ignored("the original only printed it"),
        "augmentation": ignored("the original never used it"),
        "augmentation_kwargs": ignored("the original never used it"),
        "cache_data": _bool(),
    },
    schema.DataConfig,
)

MODEL = Section(
    {
        "base_model_path": _base_model_path,
        "model_path": lambda ctx, p, v: ctx.rename(p, KEY_ALIASES["model.model_path"], v),
        "time_pooling": _time_pooling,
        "range_start": _range,
        "range_end": _range,
        "backend": _backend,
        "user_set_time_pooling": ignored("set by the original's loader itself"),
        "load_exact_model_state": _bool(),
        "dt_learnable": _bool(),
    },
    schema.ModelConfig,
)

STATE_TRAJECTORIES = Section(
    {
        "class_ids": noop_unless(_is(None), "soen-train plots the first num_samples samples of the split"),
        "neuron_indices": noop_unless(_is(None), "soen-train plots the first max_neurons_per_sample nodes"),
    },
    schema.StateTrajectoriesConfig,
)

_UNUSED = "the original never used it"

LOGGING = Section(
    {
        "track_gradients": same(KEY_ALIASES["logging.track_gradients"]),
        "metrics": _metrics,
        "mlflow_experiment_name": _mlflow_experiment,
        "console_level": ignored("unused by the original's runner"),
        "save_code": ignored(_UNUSED),
        "custom_metrics": ignored(_UNUSED),
        "connection_params_probing": ignored(_UNUSED),
        "log_batch_metrics": noop_unless(
            _falsy, "", warn="soen-train logs train_loss_step every log_freq steps and train metrics per epoch"
        ),
        "log_model": noop_unless(lambda v: True, ""),
        "gradient_stats": noop_unless(
            lambda v: not (isinstance(v, Mapping) and _coerce_bool(v.get("active", False))),
            "soen-train has no gradient-statistics file; use logging.log_gradients for gradient norms",
        ),
        "upload_logs_and_checkpoints": noop_unless(_falsy, "S3 mirroring is not part of soen-train; sync the project_dir yourself"),
        "s3_upload_url": noop_unless(_is(None), "S3 mirroring is not part of soen-train"),
        "state_trajectories": STATE_TRAJECTORIES,
        "mlflow_active": _bool(),
        "track_connections": _bool(),
        "track_layer_params": _bool(),
        "log_gradients": _bool(),
        "project_dir": optional_same(),
    },
    schema.LoggingConfig,
)

PROFILER = Section(
    {
        "trace_start_batch": ignored("used only by the original's JAX backend"),
        "trace_duration_batches": ignored("used only by the original's JAX backend"),
        "active": _bool(),
    },
    schema.ProfilerConfig,
)

NOISE_ANNEALER = Section(
    {
        "relative": noop_unless(_falsy, "soen-train's annealed noise std is absolute"),
        "percent_of_param": noop_unless(_falsy, "was broken in the original (it wrote nothing); give absolute stds"),
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

POOLING_SCALE = Section({"verbose": noop_unless(lambda v: True, "")}, schema.TimePoolingScaleSchedulerConfig)

STATEFUL = Section(
    {
        "verbose": noop_unless(
            _falsy, "", warn="only switched the original's log lines about each carry-over; soen-train writes none"
        ),
    },
    schema.StatefulTrainingConfig,
)

QUANTIZED_ACCURACY = Section(
    {
        "eval_every_n_steps": noop_unless(_is(None), "soen-train evaluates quantized accuracy at every validation"),
        "max_eval_batches": noop_unless(_is(None), "soen-train evaluates quantized accuracy on the whole validation split"),
    },
    schema.QuantizationConfig,
)

QAT = Section(
    {
        "update_on_train_epoch_start": noop_unless(_falsy, "soen-train snaps to its fixed codebook every forward"),
        "stochastic_rounding": noop_unless(_falsy, "soen-train's QAT rounds to the nearest level"),
    },
    schema.QuantizationConfig,
)

CONNECTION_NOISE = Section(
    {
        "per_step": noop_unless(_is(True, None), "soen-train draws connection noise once per forward (per step)"),
        "log_every_n_steps": noop_unless(lambda v: True, ""),
        "seed": ignored("the original created a generator from it but never drew from it"),
    },
    schema.ConnectionNoiseConfig,
)

CALLBACKS = Section(
    {
        "lr_scheduler": _lr_scheduler,
        "noise_annealers": ListOf(NOISE_ANNEALER),
        "loss_weight_schedulers": ListOf(LOSS_WEIGHT_SCHEDULER),
        "time_pooling_scale_scheduler": _pooling_scale_scheduler,
        "stateful_training": STATEFUL,
        "quantized_accuracy": _quantized_accuracy,
        "metrics": Section({"quantized_accuracy": _quantized_accuracy}, schema.CallbackMetricsConfig),
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
        "scheduler": _legacy_scheduler,
        "seed": same(),
        "description": same(),
        "name": ignored("cosmetic in the original (runs are named by logging.*_name)"),
        "cloud": lambda ctx, p, v: noop_unless(
            lambda b: not (isinstance(b, Mapping) and _coerce_bool(b.get("active", False))),
            "cloud (SageMaker) jobs are not part of soen-train; use launcher=slurm",
        )(ctx, p, v),
        "simulation": ignored("the original ignores a top-level simulation block (it belongs in the architecture YAML)"),
        "sim_config": ignored("the original ignores a top-level sim_config block (it belongs in the architecture YAML)"),
    },
)


def _schema_fields(cls: Optional[type]) -> Dict[str, Any]:
    if cls is None:
        return {}
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _walk(ctx: _Ctx, value: Any, section: Section, path: str) -> None:
    """Translate mapping ``value`` found at ``path`` with ``section``'s handlers."""
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise ctx.error(path, f"= {value!r} must be a mapping")
    ours = _schema_fields(section.schema_cls)
    for key, val in value.items():
        key = str(key)
        where = f"{path}.{key}" if path else key
        action = section.keys.get(key)
        if action is None and key in ours:
            sub = ours[key]
            if dataclasses.is_dataclass(sub):
                action = Section({}, sub)
            else:
                action = same()
        if action is None:
            valid = sorted(set(section.keys) | set(ours))
            hint = closest(key, valid)
            full = ctx.prefix + (path + "." if path else "")
            extra = f" (did you mean '{full}{hint}'?)" if hint else ""
            what = f"section '{(ctx.prefix + path).rstrip('.')}'" if (path or ctx.prefix) else "the top level"
            raise ctx.error(where, f"is not a key of {what} in the original's training config{extra}")
        if isinstance(action, Section):
            _walk(ctx, val, action, where)
        elif isinstance(action, ListOf):
            items = val or []
            if not isinstance(items, list):
                raise ctx.error(where, f"= {val!r} must be a list")
            collected = []
            for index, item in enumerate(items):
                sub_ctx = _Ctx(ctx.source, prefix=f"{where}[{index}].")
                _walk(sub_ctx, item, action.section, "")
                ctx.renamed += [(f"{where}[{index}].{a}", f"{where}[{index}].{b}") for a, b in sub_ctx.renamed]
                ctx.ignored += [(f"{where}[{index}].{a}", why) for a, why in sub_ctx.ignored]
                collected.append(sub_ctx.out)
            ctx.put(action.target or where, collected)
        else:
            action(ctx, where, val)


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
    ctx = _Ctx(source)
    ctx.source_doc = doc  # type: ignore[attr-defined]
    _walk(ctx, doc, ROOT, "")
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
    """``name`` when it is an option of config group ``group`` (a file in soen_train/conf)."""
    from importlib import resources

    folder = resources.files("soen_train") / "conf" / group
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
