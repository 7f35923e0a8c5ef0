"""Optimizer catalog and builder with per-parameter-group options.

``build_optimizer`` creates one of ``OPTIMIZERS`` over the trainable parameters. Options are
the optimizer's own keyword arguments; defaults are the optimizer's documented defaults and
nothing else (the original silently added weight_decay 1e-4 to every optimizer, Adam
included). ``param_groups`` give matching parameters their own options; each group records
``initial_lr`` and ``lr_scale`` (its LR relative to the base LR) so LR schedules keep ratios.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch.optim import Optimizer

from soen_train.catalog.optimizers import OPTIMIZER_CATALOG, optimizer_options
from soen_train.catalog.param_checks import ParameterTypeError
from soen_train.registry import Registry, check_params

#: Catalog of optimizer classes, each constructed as ``cls(param_groups, lr=..., **kwargs)``;
#: their signatures must equal the declarations in ``soen_train.catalog.optimizers``.
OPTIMIZERS: Registry[type[Optimizer]] = OPTIMIZER_CATALOG.registry("torch")

#: Keys of a ``param_groups`` entry that select parameters (the rest are optimizer options).
MATCH_KEYS = ("match", "match_regex")

#: Prefix stripped from parameter names before matching (Lightning module attribute).
MODULE_PREFIX = "model."


class Lion(Optimizer):
    """Lion (EvoLved Sign Momentum; Chen et al. 2023): sign of an interpolated momentum.

    Per step: c = beta1 m + (1 - beta1) g; p <- p (1 - lr wd) - lr sign(c);
    m <- beta2 m + (1 - beta2) g. Weight decay is decoupled, as in AdamW. Use an LR about
    3-10x smaller than for AdamW since every coordinate moves by exactly lr.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 0.0,
    ) -> None:
        if lr <= 0.0:
            raise ValueError(f"Lion: lr = {lr} must be positive")
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"Lion: betas = {betas} must lie in [0, 1)")
        if weight_decay < 0.0:
            raise ValueError(f"Lion: weight_decay = {weight_decay} must be >= 0")
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """One Lion update of every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, wd = group["lr"], group["weight_decay"]
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "exp_avg" not in state:
                    state["exp_avg"] = torch.zeros_like(p)
                m = state["exp_avg"]
                if wd:
                    p.mul_(1.0 - lr * wd)
                update = m.mul(beta1).add_(p.grad, alpha=1.0 - beta1).sign_()
                p.add_(update, alpha=-lr)
                m.mul_(beta2).add_(p.grad, alpha=1.0 - beta2)
        return loss


OPTIMIZER_CATALOG.torch("adamw")(torch.optim.AdamW)
OPTIMIZER_CATALOG.torch("adam")(torch.optim.Adam)
OPTIMIZER_CATALOG.torch("sgd")(torch.optim.SGD)
OPTIMIZER_CATALOG.torch("rmsprop")(torch.optim.RMSprop)
OPTIMIZER_CATALOG.torch("lion")(Lion)
OPTIMIZER_CATALOG.check_complete("torch")

#: Options accepted by optimizer ``name`` (besides params) with their defaults (old name).
optimizer_kwargs = optimizer_options


def _check_options(name: str, options: Mapping[str, Any], where: str) -> dict[str, Any]:
    check_params(f"{where} (optimizer '{name}')", options, optimizer_kwargs(name), noun="option")
    return {k: (tuple(v) if k == "betas" else v) for k, v in options.items()}


def _group_matcher(entry: Mapping[str, Any], where: str) -> Callable[[str], bool]:
    """A predicate on parameter names from a group's ``match`` (substring) / ``match_regex``."""
    present = [k for k in MATCH_KEYS if entry.get(k) is not None]
    if not present:
        raise ValueError(f"{where}: a param group needs 'match' (substring) or 'match_regex'")
    tests: list[Callable[[str], bool]] = []
    if entry.get("match") is not None:
        needle = str(entry["match"])
        tests.append(lambda n: needle in n)
    if entry.get("match_regex") is not None:
        try:
            pattern = re.compile(str(entry["match_regex"]))
        except re.error as err:
            raise ValueError(f"{where}: match_regex {entry['match_regex']!r} is invalid: {err}") from None
        tests.append(lambda n: pattern.search(n) is not None)
    return lambda n: any(t(n) for t in tests)


def build_optimizer(
    name: str,
    named_parameters: Iterable[tuple[str, torch.nn.Parameter]],
    lr: float,
    kwargs: Mapping[str, Any] | None = None,
    param_groups: Sequence[Mapping[str, Any]] = (),
) -> Optimizer:
    """Create optimizer ``name`` over the trainable parameters.

    ``kwargs`` are options for every parameter; ``param_groups`` entries
    ``{match | match_regex, **options}`` claim the parameters whose name (without a leading
    ``model.``) matches, first entry wins; the rest form a last default group at ``lr``.
    A group that matches nothing is an error (usually a typo).
    """
    canonical = OPTIMIZERS.canonical(name)
    base = _check_options(canonical, dict(kwargs or {}), "training.optimizer.kwargs")
    if "lr" in base:
        raise ValueError("training.optimizer.kwargs: give the learning rate as training.optimizer.lr")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
        raise ValueError(f"training.optimizer.lr = {lr!r} must be a positive number")
    params = [(n, p) for n, p in named_parameters if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters to optimise")

    specs = []
    for i, entry in enumerate(param_groups):
        where = f"training.optimizer.param_groups[{i}]"
        if not isinstance(entry, Mapping):
            raise ParameterTypeError(f"{where}: expected a mapping, got {entry!r}")
        options = {k: v for k, v in entry.items() if k not in MATCH_KEYS}
        specs.append((where, _group_matcher(entry, where), _check_options(canonical, options, where)))

    members: list[list[torch.nn.Parameter]] = [[] for _ in specs]
    rest: list[torch.nn.Parameter] = []
    for full_name, p in params:
        short = full_name.removeprefix(MODULE_PREFIX)
        for idx, (_, matches, _) in enumerate(specs):
            if matches(short):
                members[idx].append(p)
                break
        else:
            rest.append(p)

    groups: list[dict[str, Any]] = []
    for (where, _, options), group_params in zip(specs, members):
        if not group_params:
            sample = ", ".join(n for n, _ in params[:8])
            raise ValueError(f"{where}: matches no trainable parameter; parameters include: {sample}")
        group_lr = float(options.get("lr", lr))
        groups.append({**base, **options, "params": group_params, "lr": group_lr,
                       "initial_lr": group_lr, "lr_scale": group_lr / float(lr)})
    if rest:
        groups.append({**base, "params": rest, "lr": float(lr), "initial_lr": float(lr), "lr_scale": 1.0})
    try:
        return OPTIMIZERS.get(canonical)(groups, lr=float(lr), **base)
    except (ValueError, TypeError) as err:
        raise ValueError(f"optimizer '{canonical}' rejected its options: {err}") from None
