"""Create or resume the Optuna study of a sweep, with its sampler, pruner and directions.

Resuming is the default: the study is loaded when it already exists (``load_if_exists``), and
trials an interrupted sweep left RUNNING are marked FAIL, because no process will finish them.
One sweeper process drives a study at a time; parallelism comes from its jobs.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import optuna
from optuna.trial import TrialState

from soen_train.sweeps.search_space import SearchSpace
from soen_train.sweeps.trial_context import PRUNER_ATTR, non_optuna_targets

log = logging.getLogger(__name__)

VALID_DIRECTIONS = ("minimize", "maximize")
#: States that count towards ``n_trials``: the trial ran (or was abandoned) and is over.
FINISHED_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
#: Trial user attribute explaining why a trial failed.
FAIL_REASON_ATTR = "fail_reason"
INTERRUPTED_REASON = "left RUNNING by an interrupted sweep; marked FAIL when the sweep resumed"
_GRID_SAMPLER = "optuna.samplers.GridSampler"
#: Samplers that need a package Optuna does not install; checked before the search starts
#: instead of failing at the first sampled trial.
_SAMPLER_EXTRAS = {
    "optuna.samplers.CmaEsSampler": ("cmaes",),
    "optuna.samplers.GPSampler": ("torch", "scipy"),
    "optuna.samplers.QMCSampler": ("scipy",),
}


class SweeperConfigError(ValueError):
    """A ``hydra.sweeper`` setting with an invalid value; the message names key and value."""


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
    """Instantiate ``hydra.sweeper.sampler`` (``_target_`` + kwargs); TPE when unset.

    A GridSampler without ``search_space`` gets the grid of the sweep's own parameters.
    """
    from hydra.utils import instantiate

    config = plain_config(config)
    if not config:
        return optuna.samplers.TPESampler()
    _require_target("hydra.sweeper.sampler", config)
    _require_packages(config["_target_"])
    if config["_target_"] == _GRID_SAMPLER and not config.get("search_space"):
        config = dict(config, search_space=space.grid())
    sampler = instantiate(config)
    if not isinstance(sampler, optuna.samplers.BaseSampler):
        raise SweeperConfigError(
            f"hydra.sweeper.sampler._target_={config['_target_']!r} is not an Optuna sampler"
        )
    return sampler


def pruner_config(config: Any) -> Optional[Dict[str, Any]]:
    """``hydra.sweeper.pruner`` as a plain dict (None means no pruning), validated."""
    config = plain_config(config)
    if not config:
        return None
    _require_target("hydra.sweeper.pruner", config)
    foreign = non_optuna_targets(config)
    if foreign:
        # Jobs rebuild the pruner from the study database and build only Optuna classes.
        raise SweeperConfigError(
            f"hydra.sweeper.pruner: {foreign} are not Optuna classes; use a pruner from "
            f"optuna.pruners (e.g. optuna.pruners.MedianPruner, HyperbandPruner, PatientPruner)"
        )
    return dict(config)


def build_pruner(config: Optional[Mapping[str, Any]]) -> optuna.pruners.BasePruner:
    """Instantiate a pruner config; NopPruner for None."""
    from hydra.utils import instantiate

    if not config:
        return optuna.pruners.NopPruner()
    pruner = instantiate(dict(config))
    if not isinstance(pruner, optuna.pruners.BasePruner):
        raise SweeperConfigError(
            f"hydra.sweeper.pruner._target_={config['_target_']!r} is not an Optuna pruner"
        )
    return pruner


def open_study(
    storage: optuna.storages.BaseStorage,
    study_name: str,
    directions: List[str],
    sampler: optuna.samplers.BaseSampler,
    pruner_cfg: Optional[Mapping[str, Any]],
) -> optuna.Study:
    """Create the study, or load it when it exists; its directions must match the config."""
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


def fail_interrupted_trials(storage: optuna.storages.BaseStorage, study_name: str) -> List[int]:
    """Mark trials still RUNNING (left by a killed sweep) as FAIL; returns their numbers."""
    study_id = storage.get_study_id_from_name(study_name)
    numbers = []
    for trial in storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,)):
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        storage.set_trial_user_attr(trial_id, FAIL_REASON_ATTR, INTERRUPTED_REASON)
        if storage.set_trial_state_values(trial_id, TrialState.FAIL):
            numbers.append(trial.number)
    return numbers


def count_finished(study: optuna.Study) -> int:
    """How many trials of the study are over (COMPLETE, PRUNED or FAIL)."""
    return len(study.get_trials(deepcopy=False, states=FINISHED_STATES))


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
