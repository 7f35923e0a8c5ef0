"""optax optimisers that take the ``training.optimizer`` options declared in ``soen_train.catalog``.

``build_jax_optimizer(name, kwargs, clip_val, clip_algorithm)`` returns an optax
transformation that produces the update direction *without* the learning rate; the trainer
multiplies by ``-lr`` itself so that any LR schedule (including the metric-driven ones)
applies per step. Each optimiser follows the torch update rule and defaults exactly:

- ``adam``: L2 weight decay added to the gradient (torch Adam), eps outside the root;
- ``adamw``: decoupled weight decay (default 0.01, as torch.optim.AdamW);
- ``sgd``: momentum/dampening/nesterov/weight decay as torch.optim.SGD;
- ``rmsprop``: alpha 0.99, eps outside the root, optional momentum and centering;
- ``lion``: betas (0.9, 0.99), decoupled weight decay (default 0).

Gradient clipping (``training.gradient_clip_val``) comes first: ``norm`` clips the global
L2 norm, ``value`` each entry. Each factory registers against ``OPTIMIZER_CATALOG`` with
the options it honours (their defaults are the declared, torch, ones); other declared options
raise ``JaxUnsupportedError`` naming the key.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Mapping, Optional, Tuple

import jax
import jax.numpy as jnp
import optax

from soen_train.catalog.optimizers import IMPLEMENTATION_HINTS, OPTIMIZER_CATALOG
from soen_train.registry import Registry

from .errors import JaxUnsupportedError

OptimizerFactory = Callable[[Dict[str, Any]], optax.GradientTransformation]

#: Catalog of optax optimiser factories keyed by the declared names.
JAX_OPTIMIZERS: Registry[OptimizerFactory] = OPTIMIZER_CATALOG.registry("jax")

_ADAM_OPTIONS = ("betas", "eps", "weight_decay", "amsgrad", "maximize")


def _register(name: str, *options: str) -> Callable[[OptimizerFactory], OptimizerFactory]:
    """Register factory ``name`` with the declared options it honours (``fn.options``)."""

    def deco(fn: OptimizerFactory) -> OptimizerFactory:
        fn.options = options  # type: ignore[attr-defined]
        return OPTIMIZER_CATALOG.jax(name, params=options)(fn)

    return deco


def _negate() -> optax.GradientTransformation:
    """Flip the gradient sign (torch's ``maximize``)."""
    return optax.scale(-1.0)


def _scale_by_adam_amsgrad(b1: float, b2: float, eps: float) -> optax.GradientTransformation:
    """Adam with torch's AMSGrad: the max of the second moment is bias-corrected afterwards."""

    def init(params: Any) -> Any:
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        return {
            "count": jnp.zeros([], jnp.int32),
            "mu": zeros,
            "nu": zeros,
            "nu_max": jax.tree_util.tree_map(jnp.zeros_like, params),
        }

    def update(updates: Any, state: Any, params: Any = None) -> Tuple[Any, Any]:
        count = state["count"] + 1
        mu = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, state["mu"], updates)
        nu = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, state["nu"], updates)
        nu_max = jax.tree_util.tree_map(jnp.maximum, state["nu_max"], nu)
        c1 = 1 - b1 ** count.astype(jnp.float32)
        c2 = 1 - b2 ** count.astype(jnp.float32)
        out = jax.tree_util.tree_map(lambda m, v: (m / c1) / (jnp.sqrt(v / c2) + eps), mu, nu_max)
        return out, {"count": count, "mu": mu, "nu": nu, "nu_max": nu_max}

    return optax.GradientTransformation(init, update)


def _adam_core(o: Dict[str, Any]) -> optax.GradientTransformation:
    b1, b2 = (float(b) for b in o["betas"])
    if o["amsgrad"]:
        return _scale_by_adam_amsgrad(b1, b2, float(o["eps"]))
    return optax.scale_by_adam(b1=b1, b2=b2, eps=float(o["eps"]))


@_register("adam", *_ADAM_OPTIONS)
def adam(o: Dict[str, Any]) -> optax.GradientTransformation:
    """torch.optim.Adam: g += wd * p (L2), then Adam."""
    parts = [_negate()] if o["maximize"] else []
    if o["weight_decay"]:
        parts.append(optax.add_decayed_weights(float(o["weight_decay"])))
    parts.append(_adam_core(o))
    return optax.chain(*parts)


@_register("adamw", *_ADAM_OPTIONS)
def adamw(o: Dict[str, Any]) -> optax.GradientTransformation:
    """torch.optim.AdamW: Adam direction plus decoupled decay wd * p (both scaled by lr)."""
    parts = [_negate()] if o["maximize"] else []
    parts.append(_adam_core(o))
    if o["weight_decay"]:
        parts.append(optax.add_decayed_weights(float(o["weight_decay"])))
    return optax.chain(*parts)


def _sgd_momentum(
    momentum: float, dampening: float, nesterov: bool
) -> optax.GradientTransformation:
    """torch SGD momentum: buf = g on the first step, then momentum * buf + (1 - dampening) * g."""

    def init(params: Any) -> Any:
        return {
            "started": jnp.zeros([], jnp.bool_),
            "buf": jax.tree_util.tree_map(jnp.zeros_like, params),
        }

    def update(updates: Any, state: Any, params: Any = None) -> Tuple[Any, Any]:
        started = state["started"]
        buf = jax.tree_util.tree_map(
            lambda b, g: jnp.where(started, momentum * b + (1.0 - dampening) * g, g),
            state["buf"],
            updates,
        )
        out = (
            jax.tree_util.tree_map(lambda g, b: g + momentum * b, updates, buf) if nesterov else buf
        )
        return out, {"started": jnp.ones([], jnp.bool_), "buf": buf}

    return optax.GradientTransformation(init, update)


@_register("sgd", "momentum", "dampening", "weight_decay", "nesterov", "maximize")
def sgd(o: Dict[str, Any]) -> optax.GradientTransformation:
    """torch.optim.SGD (L2 weight decay, optional momentum/dampening/nesterov)."""
    if o["nesterov"] and (o["momentum"] <= 0 or o["dampening"] != 0):
        raise JaxUnsupportedError(
            "training.optimizer.kwargs: nesterov needs momentum > 0 and dampening = 0 (as in torch)"
        )
    parts = [_negate()] if o["maximize"] else []
    if o["weight_decay"]:
        parts.append(optax.add_decayed_weights(float(o["weight_decay"])))
    if o["momentum"]:
        parts.append(
            _sgd_momentum(float(o["momentum"]), float(o["dampening"]), bool(o["nesterov"]))
        )
    return optax.chain(*parts) if parts else optax.identity()


@_register("rmsprop", "alpha", "eps", "weight_decay", "momentum", "centered", "maximize")
def rmsprop(o: Dict[str, Any]) -> optax.GradientTransformation:
    """torch.optim.RMSprop: v = alpha v + (1 - alpha) g^2, step g / (sqrt(v) + eps)."""
    parts = [_negate()] if o["maximize"] else []
    if o["weight_decay"]:
        parts.append(optax.add_decayed_weights(float(o["weight_decay"])))
    alpha, eps = float(o["alpha"]), float(o["eps"])
    if o["centered"]:
        parts.append(optax.scale_by_stddev(decay=alpha, eps=eps, eps_in_sqrt=False))
    else:
        parts.append(optax.scale_by_rms(decay=alpha, eps=eps, eps_in_sqrt=False))
    if o["momentum"]:
        parts.append(optax.trace(decay=float(o["momentum"]), nesterov=False))
    return optax.chain(*parts)


def _scale_by_lion(b1: float, b2: float) -> optax.GradientTransformation:
    """Lion direction sign(b1 m + (1 - b1) g), then m = b2 m + (1 - b2) g."""

    def init(params: Any) -> Any:
        return {"m": jax.tree_util.tree_map(jnp.zeros_like, params)}

    def update(updates: Any, state: Any, params: Any = None) -> Tuple[Any, Any]:
        out = jax.tree_util.tree_map(
            lambda m, g: jnp.sign(b1 * m + (1 - b1) * g), state["m"], updates
        )
        m = jax.tree_util.tree_map(lambda m, g: b2 * m + (1 - b2) * g, state["m"], updates)
        return out, {"m": m}

    return optax.GradientTransformation(init, update)


@_register("lion", "betas", "weight_decay")
def lion(o: Dict[str, Any]) -> optax.GradientTransformation:
    """The soen_train Lion: sign update plus decoupled weight decay."""
    b1, b2 = (float(b) for b in o["betas"])
    parts = [_scale_by_lion(b1, b2)]
    if o["weight_decay"]:
        parts.append(optax.add_decayed_weights(float(o["weight_decay"])))
    return optax.chain(*parts)


def resolve_options(name: str, kwargs: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """Declared defaults overlaid with ``kwargs``; unknown or unsupported keys are errors."""
    canonical = OPTIMIZER_CATALOG.canonical(str(name))
    if canonical not in JAX_OPTIMIZERS:
        raise JaxUnsupportedError(
            f"training.optimizer.name: {OPTIMIZER_CATALOG.unavailable('jax', canonical)}"
        )
    torch_options = OPTIMIZER_CATALOG.declaration(canonical).params
    options = {k: torch_options[k] for k in JAX_OPTIMIZERS.get(canonical).options}
    for key, value in dict(kwargs or {}).items():
        if key not in torch_options:
            raise ValueError(
                f"training.optimizer.kwargs.{key}: not an option of optimizer '{canonical}'; "
                "valid: "
                f"{', '.join(sorted(torch_options))}"
            )
        if key in IMPLEMENTATION_HINTS:
            if value:
                raise JaxUnsupportedError(
                    f"training.optimizer.kwargs.{key}={value!r} selects a torch implementation; "
                    "remove it for training.backend=jax"
                )
            continue
        if key not in options:
            raise JaxUnsupportedError(
                f"training.optimizer.kwargs.{key}: option '{key}' of '{canonical}' is not "
                "available in "
                f"the JAX backend; supported: {', '.join(sorted(options))}"
            )
        options[key] = tuple(value) if key == "betas" else value
    return options


def build_jax_optimizer(
    name: str,
    kwargs: Optional[Mapping[str, Any]] = None,
    clip_val: Optional[float] = None,
    clip_algorithm: str = "norm",
) -> optax.GradientTransformation:
    """The update direction of optimiser ``name`` (multiply by -lr to get the step)."""
    options = resolve_options(name, kwargs)
    core = JAX_OPTIMIZERS.get(OPTIMIZER_CATALOG.canonical(str(name)))(options)
    if not clip_val:
        return core
    if clip_algorithm == "norm":
        return optax.chain(optax.clip_by_global_norm(float(clip_val)), core)
    if clip_algorithm == "value":
        return optax.chain(optax.clip(float(clip_val)), core)
    raise ValueError(f"training.gradient_clip_algorithm={clip_algorithm!r}: use 'norm' or 'value'")


OPTIMIZER_CATALOG.check_complete("jax")
