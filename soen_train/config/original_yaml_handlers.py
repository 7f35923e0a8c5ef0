"""The handlers of single keys of an original training YAML whose translation is more than a
copy or a rename (losses, pooling, schedulers, optimiser, backend, ...), with the small
sections they walk."""

from __future__ import annotations

from typing import Any, Dict, Mapping

from soen_train.config import schema
from soen_train.config.original_yaml_walk import (
    Handler,
    Section,
    TranslationContext,
    coerce_bool,
    falsy,
    is_one_of,
    noop_unless,
    same,
    walk,
)
from soen_train.registry import did_you_mean

OPTIMIZER = Section({"kwargs": same(), "param_groups": same()}, schema.OptimizerConfig)

DISTILLATION = Section(
    {
        "subset_fraction": noop_unless(
            is_one_of(1.0, 1, None), "soen-train keeps the first N samples: use training.distillation.max_samples"
        ),
    },
    schema.DistillationConfig,
)

POOLING_SCALE = Section({"verbose": noop_unless(lambda v: True, "")}, schema.TimePoolingScaleSchedulerConfig)

QUANTIZED_ACCURACY = Section(
    {
        "eval_every_n_steps": noop_unless(is_one_of(None), "soen-train evaluates quantized accuracy at every validation"),
        "max_eval_batches": noop_unless(is_one_of(None), "soen-train evaluates quantized accuracy on the whole validation split"),
    },
    schema.QuantizationConfig,
)


def handle_paradigm(ctx: TranslationContext, path: str, value: Any) -> None:
    if value == "unsupervised":
        ctx.rename_value(path, path, value, "self_supervised")
        return
    ctx.put(path, value)


def handle_mapping(ctx: TranslationContext, path: str, value: Any) -> None:
    if value in ("static2seq", "static2static"):
        raise ctx.error(
            path, f"= {value!r}: the original accepted it without any code path of its own; use "
            "training.mapping: seq2static (pooled output) or seq2seq (one label per step)"
        )
    ctx.put(path, value)


BACKEND_ALIASES = {"pytorch": "torch", "pl": "torch", "lightning": "torch", "": "torch", None: "torch"}


def handle_backend(ctx: TranslationContext, path: str, value: Any) -> None:
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


def handle_positive_or_none(new: str) -> Handler:
    """tbptt_stride: null or <= 0 meant tbptt_steps in the original (our null)."""

    def handle(ctx: TranslationContext, path: str, value: Any) -> None:
        if value is not None and value <= 0:
            ctx.rename_value(path, new, value, None)
            return
        ctx.put(new, value)

    return handle


def handle_every_n(ctx: TranslationContext, path: str, value: Any) -> None:
    ctx.put(path, 1 if value is None or value <= 0 else value)


def handle_optimizer(ctx: TranslationContext, path: str, value: Any) -> None:
    if not isinstance(value, Mapping):
        raise ctx.error(path, f"= {value!r} must be a mapping {{name, lr, kwargs, param_groups}}")
    walk(ctx, value, OPTIMIZER, path)
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


def handle_loss_item(ctx: TranslationContext, path: str, item: Any) -> Dict[str, Any]:
    from soen_train.training.losses.param_aliases import LOSS_PARAM_ALIASES

    if isinstance(item, str):
        item = {"name": item}
    if not isinstance(item, Mapping):
        raise ctx.error(path, f"= {item!r} must be a mapping {{name, weight, params}}")
    for key in item:
        if key not in ("name", "weight", "params"):
            extra = did_you_mean(str(key), ["name", "weight", "params"], prefix=f"{path}.")
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


def handle_loss_list(ctx: TranslationContext, path: str, items: Any) -> None:
    if not isinstance(items, list):
        raise ctx.error(path, f"= {items!r} must be a list of {{name, weight, params}}")
    ctx.put("training.loss.losses", [handle_loss_item(ctx, f"{path}[{i}]", it) for i, it in enumerate(items)])


def handle_loss(ctx: TranslationContext, path: str, value: Any) -> None:
    if isinstance(value, list):  # legacy: training.loss given as the list itself
        ctx.renamed.append((path, "training.loss.losses"))
        handle_loss_list(ctx, path, value)
        return
    if not isinstance(value, Mapping):
        raise ctx.error(path, f"= {value!r} must be a mapping with 'losses'")
    for key in value:
        if key != "losses":
            raise ctx.error(f"{path}.{key}", "is not a key of training.loss; it has only 'losses'")
    handle_loss_list(ctx, f"{path}.losses", value.get("losses") or [])


def handle_legacy_losses(ctx: TranslationContext, path: str, value: Any) -> None:
    ctx.renamed.append((path, "training.loss.losses"))
    handle_loss_list(ctx, path, value)


def handle_distillation(ctx: TranslationContext, path: str, value: Any) -> None:
    if value is None:
        return
    walk(ctx, value, DISTILLATION, path)
    # the block's presence forces paradigm distillation and full-sequence targets (as the original)
    ctx.put("training.paradigm", "distillation")
    ctx.put("training.mapping", "seq2seq")


def handle_ar(ctx: TranslationContext, path: str, value: Any) -> None:
    enabled = coerce_bool(value.get("enabled", False)) if isinstance(value, Mapping) else coerce_bool(value)
    if enabled:
        raise ctx.error(
            path, "enables the original's autoregressive mode, which soen-train does not have; "
            "train next-token prediction with training.mapping: seq2seq and loss "
            "autoregressive_cross_entropy on shifted targets in the HDF5 file"
        )


def handle_time_pooling(ctx: TranslationContext, path: str, value: Any) -> None:
    if isinstance(value, str):
        name, params = value, {}
        ctx.renamed.append((f"{path}: {value}", f"{path}.name: {value}"))
    elif isinstance(value, Mapping):
        for key in value:
            if key not in ("name", "params"):
                extra = did_you_mean(str(key), ["name", "params"], prefix=f"{path}.")
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


def handle_range(ctx: TranslationContext, path: str, value: Any) -> None:
    leaf = path.rsplit(".", 1)[1]
    ctx.rename(path, f"model.time_pooling.params.{leaf}", value)


def handle_base_model_path(ctx: TranslationContext, path: str, value: Any) -> None:
    if isinstance(value, str) and value.lower().endswith((".yaml", ".yml")):
        ctx.rename(path, "model.architecture_yaml", value)  # the original built it as a spec
        return
    if isinstance(value, str) and value.lower().endswith(".ckpt"):
        raise ctx.error(path, f"= {value!r}: a .ckpt is resumed with training.train_from_checkpoint")
    same("model.base_model_path")(ctx, path, value)


def handle_metrics(ctx: TranslationContext, path: str, value: Any) -> None:
    names = []
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, Mapping):
            raise ctx.error(
                path, f"entry {dict(item)!r}: soen-train's epoch metrics are accuracy, perplexity "
                "and bits_per_character (given by name)"
            )
        names.append(item)
    ctx.put(path, names)


def handle_mlflow_experiment(ctx: TranslationContext, path: str, value: Any) -> None:
    ctx.ignore(path, "deprecated and ignored by the original (MLflow used logging.experiment_name)")


def handle_lr_scheduler(ctx: TranslationContext, path: str, value: Any) -> None:
    from soen_train.training.lr_schedules import LR_SCHEDULES, schedule_parameters

    if not isinstance(value, Mapping):
        raise ctx.error(path, f"= {value!r} must be a mapping {{type, ...parameters}}")
    params = dict(value)
    kind = params.pop("type", "constant")
    if kind not in LR_SCHEDULES:
        extra = did_you_mean(str(kind), LR_SCHEDULES.names(with_aliases=True))
        raise ctx.error(f"{path}.type", f"= {kind!r} is not an LR schedule{extra}; valid: {', '.join(LR_SCHEDULES.names())}")
    kind = LR_SCHEDULES.canonical(str(kind))
    ours = schedule_parameters(kind)
    out: Dict[str, Any] = {}
    for key, val in params.items():
        where = f"{path}.{key}"
        if kind == "greedy" and key == "warmup" and isinstance(val, Mapping):
            enabled = coerce_bool(val.get("enabled", True))
            out["warmup_epochs"] = val.get("epochs", 0) if enabled else 0
            if "start_lr" in val:
                out["warmup_start_lr"] = val["start_lr"]
            ctx.renamed.append((where, f"{path}.warmup_epochs / warmup_start_lr"))
            continue
        if kind == "greedy" and key == "intra_epoch":
            noop_unless(falsy, "the original's intra-epoch rule crashed at its first check; "
                        "soen-train's greedy schedule acts once per validation")(ctx, where, val)
            continue
        if kind == "greedy" and key in ("adjustment_frequency", "ema_beta"):
            ctx.ignore(where, "used only by the original's intra_epoch rule")
            continue
        if key in ("debug", "verbose"):
            noop_unless(falsy, "", warn="log-only switch of the original; soen-train logs the LR as lr-<optimiser>")(ctx, where, val)
            continue
        if key == "monitor_metric" and isinstance(val, str) and "/" in val:
            new = val.replace("/total", "").replace("/", "_")
            ctx.renamed.append((f"{where}: {val}", f"{where}: {new}"))
            val = new
        if key not in ours:
            extra = did_you_mean(str(key), list(ours), prefix=f"{path}.")
            raise ctx.error(where, f"is not a parameter of the '{kind}' LR schedule{extra}; valid: {', '.join(ours)}")
        out[key] = val
    # the original's defaults for everything the file leaves out (our group files differ)
    full = {"type": kind, **{k: v for k, v in ours.items()}, **out}
    ctx.put(path if path.startswith("callbacks.") else "callbacks.lr_scheduler", full)


def handle_legacy_scheduler(ctx: TranslationContext, path: str, value: Any) -> None:
    if "lr_scheduler" in (ctx.source_doc.get("callbacks") or {}):  # type: ignore[attr-defined]
        ctx.ignore(path, "the original uses callbacks.lr_scheduler when both are given")
        return
    ctx.renamed.append((path, "callbacks.lr_scheduler"))
    handle_lr_scheduler(ctx, "callbacks.lr_scheduler", value)


def handle_pooling_scale_scheduler(ctx: TranslationContext, path: str, value: Any) -> None:
    if not value:
        return
    walk(ctx, value, POOLING_SCALE, path)
    if "active" not in value:  # the original ran it whenever the block was non-empty
        ctx.put(f"{path}.active", True)


def handle_quantized_accuracy(ctx: TranslationContext, path: str, value: Any) -> None:
    target = "callbacks.metrics.quantized_accuracy"
    if path != target:
        ctx.renamed.append((path, target))
    walk(ctx, value, QUANTIZED_ACCURACY, target)


