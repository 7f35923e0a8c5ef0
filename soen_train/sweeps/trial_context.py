"""The job's side of an Optuna sweep: find the trial this job evaluates.

The sweeper hands each job three environment variables (through the job's
``hydra.job.env_set``, so they travel with the job config to joblib workers and cluster nodes):

    SOEN_OPTUNA_STORAGE   the study's database URL
    SOEN_OPTUNA_STUDY     the study name
    SOEN_OPTUNA_TRIAL     the trial number

``current_trial()`` turns them into a ``TrialHandle`` (or None outside a sweep), which a job
uses to report intermediate values and ask whether the pruner wants it stopped. Optuna is
imported only when a trial is found, so plain runs pay nothing.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

from soen_train.errors import TrialContextError

ENV_STORAGE = "SOEN_OPTUNA_STORAGE"
ENV_STUDY = "SOEN_OPTUNA_STUDY"
ENV_TRIAL = "SOEN_OPTUNA_TRIAL"
TRIAL_ENV_VARS = (ENV_STORAGE, ENV_STUDY, ENV_TRIAL)

#: Study user attribute holding the pruner's config (``_target_`` + kwargs) for the jobs.
PRUNER_ATTR = "soen_pruner"


class TrialHandle:
    """One running Optuna trial as seen from inside its job.

    Reports go straight to the study's storage, so the pruner compares this trial with
    every other trial of the study, whichever process or machine ran them.
    """

    def __init__(self, storage_url: str, study_name: str, number: int) -> None:
        import optuna

        from soen_train.sweeps.storage import masked_url, open_storage

        self.storage_url = storage_url
        self.study_name = study_name
        self.number = number
        storage = open_storage(storage_url)
        try:
            study_id = storage.get_study_id_from_name(study_name)
        except KeyError as err:
            raise TrialContextError(
                f"{ENV_STUDY}={study_name!r}: no such study in {masked_url(storage_url)}"
            ) from err
        try:
            self._trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, number)
        except KeyError as err:
            raise TrialContextError(
                f"{ENV_TRIAL}={number}: study {study_name!r} has no trial with that number"
            ) from err
        self._storage = storage
        self._study = optuna.load_study(
            study_name=study_name,
            storage=storage,
            sampler=optuna.samplers.RandomSampler(),  # jobs never sample; keep loading cheap
            pruner=_pruner_from_attrs(storage.get_study_user_attrs(study_id)),
        )

    def __repr__(self) -> str:
        return f"TrialHandle(study={self.study_name!r}, number={self.number})"

    @property
    def params(self) -> Dict[str, Any]:
        """The parameter values the sampler chose for this trial (override key -> value)."""
        return dict(self._storage.get_trial(self._trial_id).params)

    @property
    def directions(self) -> List[str]:
        """The study's optimisation directions, e.g. ``["minimize"]``."""
        return [d.name.lower() for d in self._study.directions]

    @property
    def is_multi_objective(self) -> bool:
        """True when the study optimises several objectives (Optuna cannot prune those)."""
        return len(self._study.directions) > 1

    @property
    def pruner(self) -> "optuna.pruners.BasePruner":  # noqa: F821
        """The study's pruner, built from the sweeper's ``pruner`` config."""
        return self._study.pruner

    def report(self, value: float, step: int) -> None:
        """Store ``value`` as this trial's intermediate objective at ``step`` (e.g. the epoch).

        Reporting the same step again replaces the earlier value.
        """
        self._require_single_objective("report")
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"report: step must be an int >= 0, got {step!r}")
        try:
            number = float(value)
        except (TypeError, ValueError) as err:
            raise TypeError(f"report: value must be a number, got {value!r}") from err
        self._storage.set_trial_intermediate_value(self._trial_id, step, number)

    def should_prune(self) -> bool:
        """Ask the study's pruner whether this trial should stop now, given what it reported."""
        self._require_single_objective("should_prune")
        frozen = self._storage.get_trial(self._trial_id)
        return bool(self._study.pruner.prune(self._study, frozen))

    def intermediate_values(self) -> Dict[int, float]:
        """Everything this trial has reported so far (step -> value)."""
        return dict(self._storage.get_trial(self._trial_id).intermediate_values)

    def set_user_attr(self, key: str, value: Any) -> None:
        """Attach a JSON-serialisable value to this trial (visible in the study afterwards)."""
        self._storage.set_trial_user_attr(self._trial_id, key, value)

    def _require_single_objective(self, what: str) -> None:
        if self.is_multi_objective:
            raise TrialContextError(
                f"{what}: Optuna supports intermediate values and pruning only for "
                f"single-objective studies; study {self.study_name!r} has directions "
                f"{self.directions}"
            )


def current_trial() -> Optional[TrialHandle]:
    """The Optuna trial this process evaluates, or None when not run by the Optuna sweeper."""
    values = {name: os.environ.get(name) for name in TRIAL_ENV_VARS}
    present = [name for name, value in values.items() if value]
    if not present:
        return None
    missing = [name for name in TRIAL_ENV_VARS if name not in present]
    if missing:
        raise TrialContextError(
            f"incomplete Optuna trial environment: {present} set but {missing} missing; "
            f"the soen Optuna sweeper sets all of {list(TRIAL_ENV_VARS)}"
        )
    try:
        number = int(values[ENV_TRIAL])
    except ValueError as err:
        raise TrialContextError(f"{ENV_TRIAL}={values[ENV_TRIAL]!r} is not a trial number") from err
    return TrialHandle(values[ENV_STORAGE], values[ENV_STUDY], number)


def _pruner_from_attrs(user_attrs: Dict[str, Any]) -> "optuna.pruners.BasePruner":  # noqa: F821
    """Build the pruner the sweeper stored in the study (NopPruner when none was stored).

    The attribute comes from a database that anyone with write access can change, so it goes
    through the one allow-list builder (optuna_classes.build_optuna_object): a ``_target_`` that
    is not a listed Optuna pruner (``os.system``, ``builtins.eval``, a sampler) is refused by
    name before anything is imported or called."""
    import optuna

    from soen_train.sweeps.optuna_classes import (
        PRUNER_CLASSES,
        OptunaClassError,
        build_optuna_object,
    )

    config = user_attrs.get(PRUNER_ATTR)
    if not config:
        return optuna.pruners.NopPruner()
    try:
        return build_optuna_object(config, PRUNER_CLASSES, f"study attribute {PRUNER_ATTR}")
    except OptunaClassError as err:
        raise TrialContextError(f"{err}; refusing to build it") from None
