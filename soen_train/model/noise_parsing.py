"""Read the ``noise`` and ``perturb`` blocks of a layer or connection into their specs.

``noise`` gives per-step Gaussian noise std per core key (``phi``, ``g``, ``s``,
``bias_current``, ``j``; in the units of that quantity), ``relative`` and ``extras``
{param: std}; ``perturb`` gives an offset drawn once per forward pass (held over time) as
``<key>_mean``/``<key>_std`` plus ``extras_mean``/``extras_std``. Shared by layer and
connection parsing.
"""

from __future__ import annotations

from typing import Any

from .spec_types import CORE_NOISE_KEYS, NoiseSpec, PerturbSpec
from .validation import as_bool, as_float, as_mapping, check_keys

NOISE_KEYS = CORE_NOISE_KEYS + ("relative", "extras")
PERTURB_KEYS = tuple(f"{k}_{suffix}" for k in CORE_NOISE_KEYS for suffix in ("mean", "std")) + (
    "extras_mean", "extras_std")


def parse_noise(raw: Any, where: str) -> NoiseSpec:
    """A ``noise`` block: std per core key, ``relative`` and ``extras`` {param: std}."""
    data = as_mapping(raw, where)
    check_keys(data.keys(), NOISE_KEYS, where)
    spec = NoiseSpec()
    for key in CORE_NOISE_KEYS:
        if key in data:
            setattr(spec, key, as_float(data[key], f"{where}.{key}", minimum=0.0))
    if "relative" in data:
        spec.relative = as_bool(data["relative"], f"{where}.relative")
    extras = as_mapping(data.get("extras"), f"{where}.extras")
    spec.extras = {str(k): as_float(v, f"{where}.extras.{k}", minimum=0.0) for k, v in extras.items()}
    return spec


def parse_perturb(raw: Any, where: str) -> PerturbSpec:
    """A ``perturb`` block: ``<key>_mean``/``<key>_std`` plus ``extras_mean``/``extras_std``."""
    data = as_mapping(raw, where)
    check_keys(data.keys(), PERTURB_KEYS, where)
    spec = PerturbSpec()
    for key in CORE_NOISE_KEYS:
        if f"{key}_mean" in data:
            spec.means[key] = as_float(data[f"{key}_mean"], f"{where}.{key}_mean")
        if f"{key}_std" in data:
            spec.stds[key] = as_float(data[f"{key}_std"], f"{where}.{key}_std", minimum=0.0)
    for name, value in as_mapping(data.get("extras_mean"), f"{where}.extras_mean").items():
        spec.means[str(name)] = as_float(value, f"{where}.extras_mean.{name}")
    for name, value in as_mapping(data.get("extras_std"), f"{where}.extras_std").items():
        spec.stds[str(name)] = as_float(value, f"{where}.extras_std.{name}", minimum=0.0)
    return spec
