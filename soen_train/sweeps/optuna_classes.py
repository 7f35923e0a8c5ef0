"""Build Optuna samplers and pruners from ``_target_`` configs, but only from an allow-list.

A sweep config, and the pruner config a job reads back from the study database, name a class
by its path. Resolving an arbitrary path would let a database (or a config from elsewhere) call
any importable function; here only the public Optuna classes listed below can be built, nested
ones included (``PatientPruner(wrapped_pruner=...)``, NSGA-II crossovers), and Hydra's special
keys (``_partial_``, ``_args_``, ...) are refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Dict, List

import optuna

from soen_train.errors import OptunaClassError

SAMPLER_CLASSES: Dict[str, str] = {
    f"optuna.samplers.{name}": name
    for name in (
        "TPESampler", "RandomSampler", "GridSampler", "CmaEsSampler", "NSGAIISampler",
        "NSGAIIISampler", "QMCSampler", "GPSampler", "BruteForceSampler",
    )
}
PRUNER_CLASSES: Dict[str, str] = {
    f"optuna.pruners.{name}": name
    for name in (
        "NopPruner", "MedianPruner", "PercentilePruner", "SuccessiveHalvingPruner",
        "HyperbandPruner", "ThresholdPruner", "PatientPruner", "WilcoxonPruner",
    )
}
#: Classes allowed only as arguments of an allowed class (NSGA-II crossover operators).
HELPER_CLASSES: Dict[str, str] = {
    f"optuna.samplers.nsgaii.{name}": name
    for name in (
        "UniformCrossover", "BLXAlphaCrossover", "SPXCrossover", "SBXCrossover",
        "VSBXCrossover", "UNDXCrossover",
    )
}


def _resolve(target: str, allowed: Mapping[str, str], key: str) -> Any:
    if target not in allowed:
        raise OptunaClassError(
            f"{key}._target_={target!r} is not an allowed Optuna class; valid: "
            f"{', '.join(sorted(allowed))}"
        )
    module_path = target.rsplit(".", 1)[0]
    module = optuna
    for part in module_path.split(".")[1:]:
        module = getattr(module, part)
    return getattr(module, allowed[target])


def _value(value: Any, key: str) -> Any:
    """A keyword argument: nested ``_target_`` mappings are built (allow-list again)."""
    if isinstance(value, Mapping):
        if "_target_" in value:
            return build_optuna_object(
                value, {**SAMPLER_CLASSES, **PRUNER_CLASSES, **HELPER_CLASSES}, key
            )
        return {k: _value(v, f"{key}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_value(v, f"{key}[{i}]") for i, v in enumerate(value)]
    return value


def build_optuna_object(config: Mapping[str, Any], allowed: Mapping[str, str], key: str) -> Any:
    """Instantiate ``config["_target_"]`` (must be in ``allowed``) with the other keys as kwargs."""
    if not isinstance(config, Mapping) or not config.get("_target_"):
        raise OptunaClassError(
            f"{key} must be a mapping with a _target_ (e.g. 'optuna.samplers.TPESampler' or "
            f"'optuna.pruners.MedianPruner'), got {config!r}"
        )
    cls = _resolve(str(config["_target_"]), allowed, key)
    special = [k for k in config if str(k).startswith("_") and k != "_target_"]
    if special:
        raise OptunaClassError(f"{key}: keys {special} are not supported; give plain arguments")
    kwargs = {str(k): _value(v, f"{key}.{k}") for k, v in config.items() if k != "_target_"}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise OptunaClassError(f"{key}: {config['_target_']}({kwargs}) failed: {err}") from None


def unknown_targets(config: Any, allowed: Mapping[str, str]) -> List[str]:
    """Every ``_target_`` in a nested config that the allow-list does not hold (top level:
    ``allowed``, nested: any allowed Optuna class)."""
    found: List[str] = []
    if isinstance(config, Mapping):
        target = config.get("_target_")
        if target is not None and str(target) not in allowed:
            found.append(str(target))
        nested = {**SAMPLER_CLASSES, **PRUNER_CLASSES, **HELPER_CLASSES}
        for k, value in config.items():
            if k != "_target_":
                found.extend(unknown_targets(value, nested))
    elif isinstance(config, (list, tuple)):
        for item in config:
            found.extend(unknown_targets(item, allowed))
    return found
