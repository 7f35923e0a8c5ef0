"""Checks a composed config before any training starts: enums, ranges and combinations.

Runs while the typed config is built (``loading.to_job_config``), without torch. Catalog names and
params (losses, poolings, schedulers, optimisers, layers, callbacks, the JAX refusals) are checked
next by the one validation pass, ``config/validate.py``, before any work. Every error names the
key path, the bad value and what would be valid.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, List, Optional, Sequence

from soen_train.config.errors import ConfigError
from soen_train.config.keys import check_override_key, schema_keys  # noqa: F401  (re-exported)
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
SEED_MAX = 2**32 - 1  # numpy and Lightning seeds are unsigned 32-bit integers

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
    _check_stack_profiling(cfg)
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
    for key in ("limit_train_batches", "limit_val_batches", "overfit_batches"):
        setattr(t, key, batch_limit(f"training.{key}", getattr(t, key)))
    _finite_floats(cfg, "")
    _seed("seed", cfg.seed)
    _seed("data.split_seed", d.split_seed)
    _at_least("profiler.num_train_batches", p.num_train_batches, 1, allow_none=True)
    _at_least("profiler.num_val_batches", p.num_val_batches, 1, allow_none=True)
    _at_least("training.tbptt_steps", t.tbptt_steps, 1, allow_none=True)
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
    check_objective_metrics(cfg)
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


# Lightning's PyTorchProfiler records on the schedule wait=1, warmup=1, active=3: 5 training steps.
PROFILER_CYCLE_STEPS = 5


def _check_stack_profiling(cfg: SOENTrainConfig) -> None:
    """``with_stack`` needs the profiler's whole recording cycle: stopped part-way (fewer than 5
    profiled training batches), torch's profiler garbles its event names (UnicodeDecodeError,
    then a segfault). Beside profile_memory or record_shapes (the guide's block) it crashed
    intermittently even with 5 batches (torch 2.13 / Lightning 2.6), so that is refused too."""
    p, t = cfg.profiler, cfg.training
    if not (p.active and p.type == "pytorch" and p.with_stack):
        return
    counts = [(k, v) for k, v in (("profiler.num_train_batches", p.num_train_batches),
                                   ("training.limit_train_batches", t.limit_train_batches),
                                   ("training.overfit_batches", t.overfit_batches))
              if isinstance(v, int) and not isinstance(v, bool)]
    if counts and counts[0][1] < PROFILER_CYCLE_STEPS:
        key, value = counts[0]
        raise ConfigError(
            f"profiler.with_stack=true with {key}={value} cannot work: the pytorch profiler needs "
            f"{PROFILER_CYCLE_STEPS} training batches to finish its recording cycle, and stopped "
            f"earlier with stacks on it crashes; profile >= {PROFILER_CYCLE_STEPS} batches or set "
            "profiler.with_stack=false"
        )
    if p.profile_memory or p.record_shapes:
        raise ConfigError(
            "profiler.with_stack=true with profiler.profile_memory or profiler.record_shapes "
            "cannot work here: torch 2.13's profiler garbles its events with stacks on "
            "(UnicodeDecodeError, then a segfault, seen intermittently on CPU); set "
            "profiler.with_stack=false"
        )


def batch_limit(path: str, value: Any) -> Any:
    """A Lightning batch limit as Lightning reads it: an int is a count of batches, a float in
    (0, 1] a fraction of them. So ``1`` stays the integer 1 (one batch) and ``1.0`` means all;
    a whole float above 1 (``4.0``) is read as the count 4."""
    if value is None:
        return None
    want = "a batch count (an integer >= 1) or a fraction in (0, 1]"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{path}={value!r} is not valid; expected {want}")
    if isinstance(value, int):
        if value < 1:
            raise ConfigError(f"{path}={value} is not valid; expected {want}")
        return value
    if not math.isfinite(value) or value <= 0 or (value > 1 and not value.is_integer()):
        raise ConfigError(f"{path}={value!r} is not valid; expected {want}")
    return float(value) if value <= 1 else int(value)


def _seed(path: str, value: int) -> None:
    if not 0 <= value <= SEED_MAX:
        raise ConfigError(f"{path}={value} is out of range; seeds are integers in [0, {SEED_MAX}]")


def _finite_floats(node: Any, prefix: str) -> None:
    """Every float of the typed sections (and of their lists of entries) must be finite: an
    inf or nan learning rate, weight or std would only show up as a NaN loss after setup."""
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        path = f"{prefix}{f.name}"
        items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
        for i, item in items:
            where = path if i is None else f"{path}[{i}]"
            if dataclasses.is_dataclass(item):
                _finite_floats(item, where + ".")
            elif isinstance(item, float) and not math.isfinite(item):
                raise ConfigError(f"{where}={item!r} must be a finite number")


def _loss_term_keys(cfg: SOENTrainConfig, canonical: bool) -> List[str]:
    """Keys of the loss terms as the trainer logs them (``name``, ``name_2`` for repeats)."""
    names = [str(item.name) for item in cfg.training.loss.losses]
    if canonical:  # aliases resolved by the loss catalog (imports torch; only when needed)
        from soen_train.training.losses import LOSSES

        names = [LOSSES.canonical(n) if n in LOSSES else n for n in names]
    counts: dict = {}
    keys = []
    for name in names:
        counts[name] = counts.get(name, 0) + 1
        keys.append(name if counts[name] == 1 else f"{name}_{counts[name]}")
    return keys


def logged_metric_names(cfg: SOENTrainConfig, canonical: bool = False) -> List[str]:
    """Every metric a torch-backend job reports in its result (what objectives may name): the
    best validation value of each metric, its final value, and the test split's values."""
    base = ["loss", *cfg.logging.metrics]
    terms = _loss_term_keys(cfg, canonical)
    if len(terms) > 1:
        base += [f"loss/{k}" for k in terms]
    return [f"{p}{n}" for p in ("val_", "final_val_", "test_") for n in base] + ["epochs_trained"]


def check_objective_metrics(cfg: SOENTrainConfig) -> None:
    """The objective (and extra objectives) must be metrics the job will log: otherwise the
    mistake would only show after training and testing."""
    t = cfg.training
    if t.backend != "torch":
        return  # the JAX trainer reports its own metric set, checked when it starts
    for key, metric in [("training.objective_metric", t.objective_metric)] + [
        (f"training.extra_objective_metrics[{i}]", m) for i, m in enumerate(t.extra_objective_metrics)
    ]:
        names = logged_metric_names(cfg)
        if metric in names:
            continue
        if "loss/" in metric:
            names = logged_metric_names(cfg, canonical=True)
            if metric in names:
                continue
        hint = closest(str(metric), names)
        extra = f" (did you mean '{hint}'?)" if hint else ""
        raise ConfigError(
            f"{key}={metric!r} is not a metric this job logs{extra}; logged metrics: "
            f"{', '.join(names)}"
        )
