"""The overrides that tell one job which Optuna trial it evaluates.

They set ``hydra.job.env_set.SOEN_OPTUNA_*``; Hydra's ``run_job`` exports ``env_set`` around the
task function in whatever process runs the job (the sweeper's own process for the basic
launcher, a joblib worker, a submitit/SLURM job), so every launcher delivers them. Hydra keys
do not enter the job's task overrides, so job directory names (``override_dirname``) are
unchanged. A storage URL with a password is not written into the job config (it would land in
``.hydra/hydra.yaml``); it is exported in the sweeper's environment instead, which local workers
and SLURM jobs inherit.
"""

from __future__ import annotations

from typing import List

from soen_train.sweeps.override_text import quote_override_value
from soen_train.sweeps.trial_context import ENV_STORAGE, ENV_STUDY, ENV_TRIAL

_ENV_SET_KEY = "hydra.job.env_set"


def trial_env_overrides(
    storage_url: str, study_name: str, trial_number: int, include_storage: bool = True
) -> List[str]:
    """Overrides that make ``current_trial()`` find trial ``trial_number`` inside the job.

    Args:
        storage_url: the Optuna storage URL the job connects to.
        study_name: the study.
        trial_number: the trial the job runs.
        include_storage: add the storage override (False when the job gets it otherwise).
    """
    overrides = [
        f"++{_ENV_SET_KEY}.{ENV_STUDY}={quote_override_value(study_name)}",
        f"++{_ENV_SET_KEY}.{ENV_TRIAL}={quote_override_value(str(int(trial_number)))}",
    ]
    if include_storage:
        overrides.insert(0, f"++{_ENV_SET_KEY}.{ENV_STORAGE}={quote_override_value(storage_url)}")
    return overrides
