"""What ``training.backend=jax`` runs and what it refuses, checked before anything trains.

The JAX backend never ignores a setting: ``check_jax_config(cfg)`` raises
``JaxUnsupportedError`` naming the first config key that asks for a torch-only feature,
with what to do instead. ``REFUSED`` lists those keys (it is also the table in
``docs/jax.md``). It is the backend's validator in the CLI's one validation pass
(``soen_train.config.validate``, which also checks the catalog names both backends share, such
as the LR schedule type) and the JAX trainer's own guard when it is called directly.
"""

from __future__ import annotations

from typing import Any, List, Tuple

from .errors import JaxUnsupportedError

#: (config key, why the JAX backend refuses it) for every torch-only feature.
REFUSED: Tuple[Tuple[str, str], ...] = (
    ("training.use_tbptt", "truncated BPTT is implemented by the torch Lightning module only"),
    ("training.alternate_losses", "alternating loss terms is a torch-only training mode"),
    ("training.optimizer.param_groups", "per-parameter optimiser groups are torch-only"),
    ("training.precision", "the JAX backend trains in float32 only (32-true)"),
    ("training.fast_loop", "false asks for Lightning's loop; the JAX backend always runs its own"),
    ("training.strategy / devices / num_nodes", "the JAX backend runs on one device"),
    ("callbacks.noise_annealers", "the JAX simulator has no noise or perturbation"),
    ("callbacks.connection_noise", "the JAX simulator has no connection noise"),
    ("callbacks.stateful_training", "state carry-over between batches is torch-only"),
    ("callbacks.qat", "quantisation-aware training (straight-through weights) is torch-only"),
    ("callbacks.metrics.quantized_accuracy", "quantised-accuracy evaluation is torch-only"),
    ("callbacks.seq_len_scheduler.scale_dt", "changing dt during training is torch-only"),
    ("logging.track_connections", "connection histograms are written by a torch callback"),
    ("logging.track_layer_params", "layer-parameter histograms are written by a torch callback"),
    ("logging.log_gradients", "gradient-norm logging is a torch callback"),
    ("logging.state_trajectories.active", "state-trajectory images are a torch callback"),
    ("profiler.active", "the profilers are Lightning profilers"),
    ("layer/connection noise and perturb", "the JAX simulator has no noise or perturbation"),
    ("layer types, solvers, source functions", "those outside the JAX catalogs are refused"),
)

PRECISIONS = ("32-true", "32")


def _fail(key: str, value: Any, why: str, fix: str) -> None:
    raise JaxUnsupportedError(
        f"{key}={value!r} is not supported with training.backend=jax: {why}; {fix}"
    )


def check_jax_config(cfg: Any) -> None:
    """Raise ``JaxUnsupportedError`` for the first torch-only feature ``cfg`` asks for."""
    t, cb, lg = cfg.training, cfg.callbacks, cfg.logging
    torch_fix = "switch it off or use training.backend=torch"
    if t.use_tbptt:
        _fail("training.use_tbptt", t.use_tbptt, "truncated BPTT is torch-only", torch_fix)
    if t.alternate_losses:
        _fail(
            "training.alternate_losses",
            t.alternate_losses,
            "alternating loss terms is torch-only",
            torch_fix,
        )
    if list(t.optimizer.param_groups or []):
        _fail(
            "training.optimizer.param_groups",
            list(t.optimizer.param_groups),
            "per-parameter optimiser groups are torch-only",
            "remove them or use training.backend=torch",
        )
    if not t.fast_loop:
        _fail("training.fast_loop", t.fast_loop, "Lightning's per-batch loop is torch-only; the "
              "JAX backend always trains in its own loop", "drop the key or use training.backend=torch")
    if str(t.precision) not in PRECISIONS:
        _fail(
            "training.precision",
            t.precision,
            "the JAX backend trains in float32",
            "use training.precision=32-true",
        )
    if str(t.strategy) != "auto":
        _fail(
            "training.strategy", t.strategy, "the JAX backend runs on a single device", "use auto"
        )
    if int(t.num_nodes) != 1:
        _fail("training.num_nodes", t.num_nodes, "the JAX backend runs on a single device", "use 1")
    if t.devices not in ("auto", 1, "1", None):
        _fail(
            "training.devices",
            t.devices,
            "the JAX backend runs on a single device",
            "use auto or 1",
        )
    if str(t.accelerator) not in ("auto", "cpu", "gpu", "cuda"):
        _fail(
            "training.accelerator", t.accelerator, "JAX runs on cpu or gpu", "use auto, cpu or gpu"
        )
    if list(cb.noise_annealers or []):
        _fail("callbacks.noise_annealers", "[...]", "the JAX simulator has no noise", torch_fix)
    if list(cb.connection_noise.connections or []) and float(cb.connection_noise.std) != 0.0:
        _fail(
            "callbacks.connection_noise",
            list(cb.connection_noise.connections),
            "the JAX simulator has no connection noise",
            torch_fix,
        )
    st = cb.stateful_training
    if st.enable_for_training or st.enable_for_validation:
        _fail(
            "callbacks.stateful_training",
            "enabled",
            "state carry-over between batches is torch-only",
            torch_fix,
        )
    if cb.qat.active:
        _fail("callbacks.qat.active", True, "quantisation-aware training is torch-only", torch_fix)
    if cb.metrics.quantized_accuracy.active:
        _fail(
            "callbacks.metrics.quantized_accuracy.active",
            True,
            "quantised accuracy is torch-only",
            torch_fix,
        )
    if cb.seq_len_scheduler.active and cb.seq_len_scheduler.scale_dt:
        _fail(
            "callbacks.seq_len_scheduler.scale_dt",
            True,
            "dt is fixed during a JAX run",
            "set scale_dt=false or use training.backend=torch",
        )
    for key in ("track_connections", "track_layer_params", "log_gradients"):
        if getattr(lg, key):
            _fail(f"logging.{key}", True, "it is written by a torch callback", torch_fix)
    if lg.state_trajectories.active:
        _fail(
            "logging.state_trajectories.active",
            True,
            "trajectory images are a torch callback",
            torch_fix,
        )
    if cfg.profiler.active:
        _fail("profiler.active", True, "the profilers are Lightning profilers", torch_fix)
    from .spec_support import check_architecture, configured_architecture

    spec = configured_architecture(cfg.model)
    if spec is not None:  # layers, edge modes, solvers, sources: refused before any data
        check_architecture(spec)


def model_noise_settings(jax_model: Any) -> List[str]:
    """The model's non-zero noise/perturb settings (each one is refused for training)."""
    return list(getattr(jax_model, "noise_settings", ()))


def check_model_noise(jax_model: Any) -> None:
    """Refuse training a model whose spec switches noise or perturbation on."""
    settings = model_noise_settings(jax_model)
    if settings:
        raise JaxUnsupportedError(
            f"the model has noise/perturbation settings {settings}; the JAX backend simulates "
            "without "
            "noise, so training would ignore them: set them to 0 or use training.backend=torch"
        )
