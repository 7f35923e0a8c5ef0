"""Initial-value distributions for per-node layer parameters (bias_current, gamma_plus, ...).

A layer parameter in an architecture YAML is either a number (every node gets it) or
``{distribution: <name>, params: {...}}``. Every draw goes through the model's seeded
``torch.Generator`` so the same seed gives bit-identical parameters.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from soen_train.registry import Registry

from .validation import REQUIRED, ArchitectureError, as_float, resolve_options


@dataclass(frozen=True)
class Distribution:
    """A named way to draw ``dim`` initial values; ``defaults`` lists its parameters."""

    defaults: Mapping[str, object]
    draw: Callable[[int, Mapping[str, float], torch.Generator | None], Tensor]
    doc: str


#: Catalog of parameter initialisers, keyed by the ``distribution`` names of the YAML.
PARAM_DISTRIBUTIONS: Registry[Distribution] = Registry("parameter distribution")


def _uniform01(dim: int, gen: torch.Generator | None) -> Tensor:
    return torch.rand(dim, generator=gen, dtype=torch.float64)


def _normal01(dim: int, gen: torch.Generator | None) -> Tensor:
    return torch.randn(dim, generator=gen, dtype=torch.float64)


def _constant(dim: int, p: Mapping[str, float], gen: torch.Generator | None) -> Tensor:
    return torch.full((dim,), p["value"], dtype=torch.float64)


def _uniform(dim: int, p: Mapping[str, float], gen: torch.Generator | None) -> Tensor:
    return p["min"] + (p["max"] - p["min"]) * _uniform01(dim, gen)


def _normal(dim: int, p: Mapping[str, float], gen: torch.Generator | None) -> Tensor:
    return p["mean"] + p["std"] * _normal01(dim, gen)


def _lognormal(dim: int, p: Mapping[str, float], gen: torch.Generator | None) -> Tensor:
    return torch.exp(p["mean"] + p["std"] * _normal01(dim, gen))


def _loguniform(dim: int, p: Mapping[str, float], gen: torch.Generator | None) -> Tensor:
    lo, hi = math.log(p["min"]), math.log(p["max"])
    return torch.exp(lo + (hi - lo) * _uniform01(dim, gen))


def _linear(dim: int, p: Mapping[str, float], gen: torch.Generator | None) -> Tensor:
    return torch.linspace(p["min"], p["max"], dim, dtype=torch.float64)


PARAM_DISTRIBUTIONS.register("constant")(
    Distribution({"value": REQUIRED}, _constant, "every node gets `value`"))
PARAM_DISTRIBUTIONS.register("uniform")(
    Distribution({"min": REQUIRED, "max": REQUIRED}, _uniform, "uniform on [min, max)"))
PARAM_DISTRIBUTIONS.register("normal", "gaussian")(
    Distribution({"mean": 0.0, "std": REQUIRED}, _normal, "Gaussian with mean, std"))
PARAM_DISTRIBUTIONS.register("lognormal")(
    Distribution({"mean": 0.0, "std": REQUIRED}, _lognormal,
                 "exp of a Gaussian with mean, std (of the logarithm)"))
PARAM_DISTRIBUTIONS.register("loguniform")(
    Distribution({"min": REQUIRED, "max": REQUIRED}, _loguniform,
                 "log-uniform on [min, max], min > 0"))
PARAM_DISTRIBUTIONS.register("linear", "linspace")(
    Distribution({"min": REQUIRED, "max": REQUIRED}, _linear,
                 "evenly spaced from min (node 0) to max (last node)"))


def validate_distribution(name: str, params: Mapping[str, object], where: str) -> dict:
    """Check a distribution name and its parameters; returns numeric params with defaults."""
    try:
        dist = PARAM_DISTRIBUTIONS.get(name)
    except KeyError as exc:
        raise ArchitectureError(f"{where}: {exc}") from None
    merged = resolve_options(params, dist.defaults, f"{where} ({name} params)")
    numeric = {k: as_float(v, f"{where}.{k}") for k, v in merged.items()}
    canonical = PARAM_DISTRIBUTIONS.canonical(name)
    if canonical in ("uniform", "loguniform", "linear") and numeric["min"] > numeric["max"]:
        raise ArchitectureError(f"{where}: min ({numeric['min']}) is larger than max ({numeric['max']})")
    if canonical == "loguniform" and numeric["min"] <= 0:
        raise ArchitectureError(f"{where}: loguniform needs min > 0, got {numeric['min']}")
    if canonical in ("normal", "lognormal") and numeric["std"] < 0:
        raise ArchitectureError(f"{where}: std must be >= 0, got {numeric['std']}")
    return numeric


def draw_values(name: str, params: Mapping[str, float], dim: int,
                generator: torch.Generator | None) -> Tensor:
    """``dim`` float32 values from distribution ``name`` (params already validated)."""
    dist = PARAM_DISTRIBUTIONS.get(name)
    return dist.draw(dim, params, generator).to(torch.float32)
