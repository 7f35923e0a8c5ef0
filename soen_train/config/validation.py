"""Checks a composed config before any training starts: enums, ranges and combinations.

Catalog names (losses, poolings, schedulers, optimisers, layers) are checked by their registries
when the trainer builds them, still before the first step. Every error names the key path, the
bad value and what would be valid.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, List, Optional, Sequence

from soen_train.config.errors import ConfigError
from soen_train.config.schema import SOENTrainConfig
from soen_train.registry import closest

PARADIGMS = ("supervised", "self_supervised", "distillation")
MAPPINGS = ("seq2static", "seq2seq")
BACKENDS = ("torch", "jax")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")
PRECISIONS = ("32-true", "32", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "64-true", "64")
CLIP_ALGORITHMS = ("norm", "value")
TEST_CHECKPOINTS = ("best", "last")
DIRECTIONS = ("auto", "minimize", "maximize")
INPUT_ENCODINGS = ("raw", "one_hot")
PROFILERS = ("simple", "advanced", "pytorch")
NOISE_TARGETS = ("noise", "perturb")
SAMPLE_SELECTIONS = ("random", "first", "last")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

PRINT_CONFIG = ("short", "full", "none")


def _choice(path: str, value: Any, valid: Sequence[str]) -> None:
    if value not in valid:
        hint = closest(str(value), valid)
        extra = f" (did you mean '{hint}'?)" if hint else ""
        raise ConfigError(
            f"{path}={value!r} is not valid{extra}; choose one of: {', '.join(valid)}"
        )


def _at_least(path: str, value: Optional[float], low: float, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if value is None or value < low:
        raise ConfigError(f"{path}={value!r} must be >= {low}")


def _fraction(path: str, value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise ConfigError(f"{path}={value!r} must be in [0, 1)")


def validate(cfg: SOENTrainConfig) -> SOENTrainConfig:
    """Raise ConfigError for the first invalid value or combination; return cfg unchanged."""
    t, d, m, lg, p, cb = cfg.training, cfg.data, cfg.model, cfg.logging, cfg.profiler, cfg.callbacks
    if isinstance(t.optimizer.lr, str):  # a dataclass built in Python: resolve the lr shortcut
        t.optimizer.lr = t.lr
    _choice("training.paradigm", t.paradigm, PARADIGMS)
    _choice("training.mapping", t.mapping, MAPPINGS)
    _choice("training.backend", t.backend, BACKENDS)
    _choice("training.accelerator", t.accelerator, ACCELERATORS)
    _choice("training.precision", str(t.precision), PRECISIONS)
    _choice("training.gradient_clip_algorithm", t.gradient_clip_algorithm, CLIP_ALGORITHMS)
    _choice("training.test_checkpoint", t.test_checkpoint, TEST_CHECKPOINTS)
    _choice("training.objective_direction", t.objective_direction, DIRECTIONS)
    for direction in t.extra_objective_directions:
        _choice("training.extra_objective_directions[]", direction, DIRECTIONS)
    if t.extra_objective_directions and len(t.extra_objective_directions) != len(t.extra_objective_metrics):
        raise ConfigError(
            f"training.extra_objective_directions has {len(t.extra_objective_directions)} entries "
            f"but training.extra_objective_metrics has {len(t.extra_objective_metrics)}; give one "
            "direction per metric (or none for auto)"
        )
    _choice("data.input_encoding", d.input_encoding, INPUT_ENCODINGS)
    _choice("profiler.type", p.type, PROFILERS)
    _choice("logging.log_level", lg.log_level.upper(), LOG_LEVELS)
    _choice("logging.print_config", lg.print_config, PRINT_CONFIG)
    _at_least("training.max_epochs", t.max_epochs, 1)
    _at_least("training.batch_size", t.batch_size, 1)
    _at_least("training.num_repeats", t.num_repeats, 1)
    _at_least("training.num_workers", t.num_workers, 0)
    _at_least("training.num_nodes", t.num_nodes, 1)
    _at_least("training.accumulate_grad_batches", t.accumulate_grad_batches, 1)
    _at_least("training.checkpoint_every_n_epochs", t.checkpoint_every_n_epochs, 1)
    _at_least("training.batches_per_loss", t.batches_per_loss, 1)
    _at_least("training.early_stopping_patience", t.early_stopping_patience, 1, allow_none=True)
    _at_least("training.gradient_clip_val", t.gradient_clip_val, 0.0, allow_none=True)
    _at_least("logging.log_freq", lg.log_freq, 1)
    if not t.lr > 0:
        raise ConfigError(f"training.lr={t.lr!r} must be > 0")
    if not t.optimizer.lr > 0:
        raise ConfigError(f"training.optimizer.lr={t.optimizer.lr!r} must be > 0")
    if t.checkpoint_save_top_k < -1:
        raise ConfigError(
            f"training.checkpoint_save_top_k={t.checkpoint_save_top_k} must be -1 (keep all), "
            "0 (none) or a positive count"
        )
    for key in ("limit_train_batches", "limit_val_batches"):
        val = getattr(t, key)
        if val is not None and val <= 0:
            raise ConfigError(f"training.{key}={val!r} must be > 0 (a fraction <= 1 or a count)")
    _fraction("data.val_split", d.val_split)
    _fraction("data.test_split", d.test_split)
    if d.val_split + d.test_split >= 1.0:
        raise ConfigError(
            f"data.val_split + data.test_split = {d.val_split + d.test_split} leaves no training data"
        )
    _at_least("data.target_seq_len", d.target_seq_len, 1, allow_none=True)
    _at_least("data.num_classes", d.num_classes, 1, allow_none=True)
    if (d.min_scale is None) != (d.max_scale is None):
        raise ConfigError("data.min_scale and data.max_scale must be set together (or both null)")
    if d.min_scale is not None and d.max_scale is not None and d.min_scale >= d.max_scale:
        raise ConfigError(
            f"data.min_scale={d.min_scale} must be below data.max_scale={d.max_scale}"
        )
    if d.input_encoding == "one_hot" and not d.vocab_size:
        raise ConfigError("data.input_encoding=one_hot needs data.vocab_size (the token count)")
    if d.data_path is None and d.dataset is None:
        raise ConfigError(
            "no data: set data.data_path (an HDF5 file) or data.dataset (a built-in maker: "
            "pulses, digits, mnist, mnist1d), e.g. `soen-train experiment=pulses`"
        )
    sources = [k for k in ("base_model_path", "architecture_yaml", "architecture") if getattr(m, k)]
    if not sources:
        raise ConfigError(
            "no model: set model.architecture_yaml (a SOEN architecture YAML), "
            "model.base_model_path (a .soen file) or pick arch=<name>"
        )
    if len(sources) > 1:
        raise ConfigError(
            f"model sources conflict: {', '.join('model.' + s for s in sources)} are all set; "
            "keep exactly one"
        )
    if m.dt is not None and not m.dt > 0:
        raise ConfigError(f"model.dt={m.dt!r} must be > 0 (dimensionless time step)")
    _validate_combinations(cfg)
    for ann in cb.noise_annealers:
        _choice("callbacks.noise_annealers[].target", ann.target, NOISE_TARGETS)
    _choice(
        "callbacks.stateful_training.sample_selection",
        cb.stateful_training.sample_selection,
        SAMPLE_SELECTIONS,
    )
    if t.use_tbptt and not (t.tbptt_steps and t.tbptt_steps > 0):
        raise ConfigError("training.use_tbptt=true needs training.tbptt_steps > 0 (chunk length)")
    if t.use_tbptt and t.tbptt_stride is not None and not 0 < t.tbptt_stride <= t.tbptt_steps:
        raise ConfigError(
            f"training.tbptt_stride={t.tbptt_stride} must be in [1, tbptt_steps={t.tbptt_steps}]"
        )
    if t.use_tbptt and t.accumulate_grad_batches > 1:
        raise ConfigError(
            "training.use_tbptt steps the optimiser once per chunk, so it cannot be combined "
            "with training.accumulate_grad_batches > 1"
        )
    return cfg


def _validate_combinations(cfg: SOENTrainConfig) -> None:
    """Reject paradigm x mapping x loss combinations that cannot work, and say why."""
    t = cfg.training
    names = [item.name for item in t.loss.losses]
    if not names:
        raise ConfigError(
            "training.loss.losses is empty: list at least one loss, e.g. loss=cross_entropy"
        )
    if t.paradigm == "self_supervised" and t.mapping != "seq2seq":
        raise ConfigError(
            "training.paradigm=self_supervised reconstructs the input sequence, so it needs "
            "training.mapping=seq2seq"
        )
    if t.paradigm in ("self_supervised", "distillation") and "cross_entropy" in names:
        raise ConfigError(
            f"training.paradigm={t.paradigm} has real-valued targets (the input or a teacher's "
            "states): use loss=mse instead of cross_entropy"
        )
    if t.paradigm == "distillation" and not t.distillation.teacher_model_path:
        raise ConfigError(
            "training.paradigm=distillation needs training.distillation.teacher_model_path (a .soen teacher)"
        )
    if t.paradigm == "distillation" and t.mapping != "seq2seq":
        raise ConfigError(
            "training.paradigm=distillation matches the teacher's whole state trajectory, so it "
            "needs training.mapping=seq2seq"
        )


def schema_keys(cls: type = SOENTrainConfig, prefix: str = "") -> List[str]:
    """Every dotted key path the schema declares (dict-typed fields end the path)."""
    keys: List[str] = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        path = f"{prefix}{f.name}"
        keys.append(path)
        sub = hints[f.name]
        if dataclasses.is_dataclass(sub):
            keys.extend(schema_keys(sub, path + "."))
    return keys


def check_override_key(key: str) -> None:
    """Raise ConfigError naming the closest valid key when an override path is not in the schema.

    Paths below a free-form dict (loss params, scheduler settings) are left to Hydra and to the
    catalog's own signature checks.
    """
    keys = schema_keys()
    if key in keys:
        return
    parts = key.split(".")
    for i in range(len(parts) - 1, 0, -1):
        parent = ".".join(parts[:i])
        if parent in keys and not _is_dataclass_path(parent):
            return
    hint = closest(key, keys)
    if hint is None:
        # compare on the last component too: `training.max_epoch` -> `training.max_epochs`
        section = ".".join(parts[:-1])
        siblings = (
            [k for k in keys if k.rsplit(".", 1)[0] == section and "." in k] if section else []
        )
        leaf = closest(parts[-1], [k.rsplit(".", 1)[-1] for k in siblings])
        hint = f"{section}.{leaf}" if leaf else None
    msg = f"unknown config key '{key}'"
    msg += f" (did you mean '{hint}'?)" if hint else ""
    sections = sorted({k.split(".")[0] for k in keys})
    raise ConfigError(msg + f"; top-level sections are: {', '.join(sections)}")


def _is_dataclass_path(path: str) -> bool:
    cls: Any = SOENTrainConfig
    for part in path.split("."):
        if not dataclasses.is_dataclass(cls):
            return False
        cls = typing.get_type_hints(cls)[part]
    return dataclasses.is_dataclass(cls)
