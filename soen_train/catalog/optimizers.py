"""The optimizer catalog, declared once: each optimizer's options with their defaults.

The options are torch's own keyword arguments with torch's documented defaults (nothing is
added behind the user's back: the original silently gave every optimizer weight_decay 1e-4).
The torch backend (``soen_train.training.optimizers``) registers the optimizer classes, whose
signatures must equal these declarations; the JAX backend (``soen_train.jax.optimizers``)
registers optax factories that name the subset of options they honour, with these defaults.
"""

from __future__ import annotations

from typing import Any, Dict

from soen_train.catalog.declaration import Catalog, entry
from soen_train.registry import signature_params

#: torch options that only choose an implementation (no effect on the numbers).
IMPLEMENTATION_HINTS = ("foreach", "fused", "capturable", "differentiable")

_ADAM_LIKE = {"betas": (0.9, 0.999), "eps": 1e-08}


def _options(lr: float, **options: Any) -> Dict[str, Any]:
    return {"lr": lr, **options}


#: Every optimizer of ``training.optimizer.name``.
OPTIMIZER_CATALOG = Catalog(
    "optimizer",
    [
        entry(
            "adam",
            params=_options(
                0.001, **_ADAM_LIKE, weight_decay=0, amsgrad=False, foreach=None,
                maximize=False, capturable=False, differentiable=False, fused=None,
                decoupled_weight_decay=False,
            ),
            summary="torch.optim.Adam: L2 weight decay added to the gradient",
        ),
        entry(
            "adamw",
            params=_options(
                0.001, **_ADAM_LIKE, weight_decay=0.01, amsgrad=False, maximize=False,
                foreach=None, capturable=False, differentiable=False, fused=None,
            ),
            summary="torch.optim.AdamW: decoupled weight decay",
        ),
        entry(
            "sgd",
            params=_options(
                0.001, momentum=0, dampening=0, weight_decay=0, nesterov=False, maximize=False,
                foreach=None, differentiable=False, fused=None,
            ),
            summary="torch.optim.SGD: momentum, dampening, nesterov, L2 weight decay",
        ),
        entry(
            "rmsprop",
            params=_options(
                0.01, alpha=0.99, eps=1e-08, weight_decay=0, momentum=0, centered=False,
                capturable=False, foreach=None, maximize=False, differentiable=False,
            ),
            summary="torch.optim.RMSprop: eps outside the root, optional momentum and centering",
        ),
        entry(
            "lion",
            params=_options(0.0001, betas=(0.9, 0.99), weight_decay=0.0),
            summary=(
                "Lion (sign momentum). Update: c = β1 m + (1 − β1) g; w ← w (1 − lr·wd) − "
                "lr·sign(c); m ← β2 m + (1 − β2) g. Use an lr 3–10× smaller than for AdamW."
            ),
        ),
    ],
    read_params={"torch": lambda cls: signature_params(cls.__init__, skip=2)},  # self, params
)


def optimizer_options(name: str) -> Dict[str, Any]:
    """Options accepted by optimizer ``name`` (besides the parameters) with their defaults."""
    return dict(OPTIMIZER_CATALOG.declaration(name).params)
