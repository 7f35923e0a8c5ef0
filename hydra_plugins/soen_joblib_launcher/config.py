"""The ``hydra/launcher=soen_joblib`` schema (selected by ``launcher=joblib``).

Registered in Hydra's ConfigStore when Hydra scans ``hydra_plugins`` (which loads this file outside
``sys.modules``, so no ``from __future__ import annotations`` here: dataclasses need the module).
"""


from dataclasses import dataclass
from typing import Optional

from hydra.core.config_store import ConfigStore

LAUNCHER_TARGET = "hydra_plugins.soen_joblib_launcher.pool_launcher.SoenJoblibLauncher"


@dataclass
class SoenJoblibLauncherConf:
    """Options of the persistent local worker pool."""

    _target_: str = LAUNCHER_TARGET
    #: worker processes, i.e. jobs run at once
    n_jobs: int = 2
    #: torch/OpenMP/BLAS threads of each worker; null: the usable cores // n_jobs (at least 1)
    threads_per_worker: Optional[int] = None
    #: auto: fork the workers from the sweeper (they inherit its imports) when each worker runs
    #: one thread, else start fresh interpreters (loky; OpenMP is not fork-safe with threads);
    #: or force fork / loky
    start_method: str = "auto"


ConfigStore.instance().store(
    group="hydra/launcher", name="soen_joblib", node=SoenJoblibLauncherConf, provider="soen_train"
)
