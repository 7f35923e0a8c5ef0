"""Create or resume the Optuna study of a sweep, with its sampler, pruner and directions.

Resuming is the default: the study is loaded when it already exists (``load_if_exists``);
trials a dead sweeper left RUNNING are settled by ``soen_train.sweeps.recovery`` (heartbeats),
so several sweepers can share one study.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np
import optuna
from optuna.trial import TrialState

from soen_train.errors import SweeperConfigError
from soen_train.sweeps.optuna_classes import (
    PRUNER_CLASSES,
    SAMPLER_CLASSES,
    OptunaClassError,
    build_optuna_object,
    unknown_targets,
)
from soen_train.sweeps.search_space import SearchSpace
from soen_train.sweeps.trial_context import PRUNER_ATTR

log = logging.getLogger(__name__)

VALID_DIRECTIONS = ("minimize", "maximize")
#: States that count towards ``n_trials``: the trial ran (or was abandoned) and is over.
FINISHED_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
#: Trial user attribute explaining why a trial failed.
FAIL_REASON_ATTR = "fail_reason"
_GRID_SAMPLER = "optuna.samplers.GridSampler"
#: Samplers that need a package Optuna does not install; checked before the search starts
#: instead of failing at the first sampled trial.
_SAMPLER_EXTRAS = {
    "optuna.samplers.CmaEsSampler": ("cmaes",),
    "optuna.samplers.GPSampler": ("torch", "scipy"),
    "optuna.samplers.QMCSampler": ("scipy",),
}


def directions_from_config(direction: Union[str, Sequence[str], None]) -> List[str]:
    """``hydra.sweeper.direction`` (a string or a list of them) as lower-case direction names."""
    items = [direction] if isinstance(direction, str) else list(direction or [])
    if not items:
        raise SweeperConfigError(
            f"hydra.sweeper.direction is empty; give one of {list(VALID_DIRECTIONS)} "
            f"or a list of them for a multi-objective search"
        )
    result = []
    for item in items:
        name = str(getattr(item, "name", item)).strip().lower()
        if name not in VALID_DIRECTIONS:
            raise SweeperConfigError(
                f"hydra.sweeper.direction: {item!r} is not valid; use one of "
                f"{list(VALID_DIRECTIONS)} (or a list of them)"
            )
        result.append(name)
    return result


def plain_config(node: Any) -> Any:
    """An OmegaConf node (or plain value) as plain Python containers, interpolations resolved."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(node, (DictConfig, ListConfig)):
        return OmegaConf.to_container(node, resolve=True)
    return node


def build_sampler(config: Any, space: SearchSpace) -> optuna.samplers.BaseSampler:
    """Build ``hydra.sweeper.sampler`` (``_target_`` + kwargs, allow-listed Optuna classes only).

    TPE when unset. A GridSampler without ``search_space`` gets the sweep's own grid. A seeded
    sampler is re-seeded for every trial from (seed, trial number): a resumed sweep, or two
    sweeps on one study, never replay the random draws of trials that already ran.
    """
    config = plain_config(config)
    if not config:
        return optuna.samplers.TPESampler()
    _require_target("hydra.sweeper.sampler", config)
    _require_packages(config["_target_"])
    if config["_target_"] == _GRID_SAMPLER and not config.get("search_space"):
        config = dict(config, search_space=space.grid())
    try:
        sampler = build_optuna_object(config, SAMPLER_CLASSES, "hydra.sweeper.sampler")
    except OptunaClassError as err:
        raise SweeperConfigError(str(err)) from None
    if config.get("seed") is not None:
        seed_per_trial(sampler, int(config["seed"]))
    return sampler


def _random_states(obj: Any, depth: int = 0) -> List[Any]:
    """The numpy random states a sampler (and the samplers it holds) draws from."""
    from optuna.samplers._lazy_random_state import LazyRandomState

    found: List[Any] = []
    for value in vars(obj).values():
        if isinstance(value, LazyRandomState):
            found.append(value.rng)
        elif isinstance(value, np.random.RandomState):
            found.append(value)
        elif isinstance(value, optuna.samplers.BaseSampler) and depth < 2:
            found.extend(_random_states(value, depth + 1))
    return found


def seed_per_trial(sampler: optuna.samplers.BaseSampler, seed: int) -> None:
    """Seed ``sampler``'s random states from (seed, trial number) before each trial samples.

    The draws of trial N are then the same whichever process asks for it, and differ from
    those of every other trial: a restarted sweep does not repeat trials 0, 1, ... again."""
    original = sampler.before_trial

    def before_trial(study: optuna.Study, trial: Any) -> None:
        for i, state in enumerate(_random_states(sampler)):
            state.seed(np.random.SeedSequence([seed, trial.number, i]).generate_state(1)[0])
        original(study, trial)

    sampler.before_trial = before_trial  # type: ignore[method-assign]


def pruner_config(config: Any) -> Optional[Dict[str, Any]]:
    """``hydra.sweeper.pruner`` as a plain dict (None means no pruning), validated."""
    config = plain_config(config)
    if not config:
        return None
    _require_target("hydra.sweeper.pruner", config)
    foreign = unknown_targets(config, PRUNER_CLASSES)
    if foreign:
        # Jobs rebuild the pruner from the study database: only allow-listed Optuna classes.
        raise SweeperConfigError(
            f"hydra.sweeper.pruner: {foreign} are not allowed Optuna classes; valid pruners: "
            f"{', '.join(sorted(PRUNER_CLASSES))}"
        )
    return dict(config)


def build_pruner(config: Optional[Mapping[str, Any]]) -> optuna.pruners.BasePruner:
    """Build a pruner config (allow-listed Optuna classes only); NopPruner for None."""
    if not config:
        return optuna.pruners.NopPruner()
    try:
        return build_optuna_object(dict(config), PRUNER_CLASSES, "hydra.sweeper.pruner")
    except OptunaClassError as err:
        raise SweeperConfigError(str(err)) from None


def open_study(
    storage: optuna.storages.BaseStorage,
    study_name: str,
    directions: List[str],
    sampler: optuna.samplers.BaseSampler,
    pruner_cfg: Optional[Mapping[str, Any]],
) -> optuna.Study:
    """Create the study, or load it when it exists; its directions must match the config.

    Args:
        storage: the Optuna storage.
        study_name: the study.
        directions: ``minimize``/``maximize`` per objective, as configured.
        sampler: the sampler.
        pruner_cfg: ``hydra.sweeper.pruner`` (None: no pruning), built by ``build_pruner``.
    """
    study = optuna.create_study(
        storage=storage,
        study_name=study_name,
        sampler=sampler,
        pruner=build_pruner(pruner_cfg),
        directions=directions,
        load_if_exists=True,
    )
    stored = [d.name.lower() for d in study.directions]
    if stored != directions:
        raise SweeperConfigError(
            f"study {study_name!r} already exists with directions {stored}, but "
            f"hydra.sweeper.direction is {directions}; use another hydra.sweeper.study_name "
            f"or the stored direction"
        )
    # Jobs rebuild the same pruner from this attribute (see trial_context.current_trial).
    study.set_user_attr(PRUNER_ATTR, dict(pruner_cfg) if pruner_cfg else None)
    return study


def count_finished(study: optuna.Study) -> int:
    """How many trials count towards ``n_trials``: COMPLETE, PRUNED, or FAIL by their own job
    (not the ones cut off by a dead sweeper, whose parameters run again)."""
    from soen_train.sweeps.recovery import counted

    return sum(1 for t in study.get_trials(deepcopy=False, states=FINISHED_STATES) if counted(t))


def count_by_state(study: optuna.Study) -> Dict[str, int]:
    """Trial count per state name, every state listed (zeros included)."""
    counts = {state.name: 0 for state in TrialState}
    for trial in study.get_trials(deepcopy=False):
        counts[trial.state.name] += 1
    return counts


def _require_packages(target: str) -> None:
    """Fail early, naming the pip package, when a sampler's optional dependency is missing."""
    import importlib.util

    missing = [m for m in _SAMPLER_EXTRAS.get(target, ()) if importlib.util.find_spec(m) is None]
    if missing:
        raise SweeperConfigError(
            f"hydra.sweeper.sampler._target_={target!r} needs the package(s) {missing}; "
            f"install them (pip install {' '.join(missing)}) or choose another sampler"
        )


def _require_target(key: str, config: Any) -> None:
    if not isinstance(config, Mapping) or not config.get("_target_"):
        raise SweeperConfigError(
            f"{key} must be a mapping with a _target_ (an Optuna class path such as "
            f"'optuna.samplers.TPESampler' or 'optuna.pruners.MedianPruner'), got {config!r}"
        )
