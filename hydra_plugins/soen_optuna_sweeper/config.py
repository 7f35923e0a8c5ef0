"""Config schema of ``hydra/sweeper=optuna`` and its ``sampler`` / ``pruner`` option groups.

Registered in Hydra's ConfigStore when Hydra scans ``hydra_plugins``. Samplers and pruners are
plain ``_target_`` mappings (not typed nodes), so a sweep file may point ``_target_`` at any
Optuna class and add that class's arguments.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore

SWEEPER_TARGET = "hydra_plugins.soen_optuna_sweeper.optuna_sweeper.OptunaSweeper"

#: ``hydra/sweeper/sampler`` options. Only ``seed`` is preset, so switching ``_target_`` in a
#: sweep file never leaves another sampler's arguments behind; other arguments keep Optuna's
#: defaults unless the sweep file sets them.
SAMPLERS: Dict[str, Dict[str, Any]] = {
    "tpe": {"_target_": "optuna.samplers.TPESampler", "seed": None},
    "random": {"_target_": "optuna.samplers.RandomSampler", "seed": None},
    "cmaes": {"_target_": "optuna.samplers.CmaEsSampler", "seed": None},
    "nsgaii": {"_target_": "optuna.samplers.NSGAIISampler", "seed": None},
    "qmc": {"_target_": "optuna.samplers.QMCSampler", "seed": None},
    "gp": {"_target_": "optuna.samplers.GPSampler", "seed": None},
    # Without ``search_space`` the sweeper fills in the grid of the swept choice/range params.
    "grid": {"_target_": "optuna.samplers.GridSampler", "seed": None},
}

#: ``hydra/sweeper/pruner`` options, with Optuna's own default arguments spelled out.
PRUNERS: Dict[str, Dict[str, Any]] = {
    "nop": {"_target_": "optuna.pruners.NopPruner"},
    "median": {
        "_target_": "optuna.pruners.MedianPruner",
        "n_startup_trials": 5,
        "n_warmup_steps": 0,
        "interval_steps": 1,
        "n_min_trials": 1,
    },
    "percentile": {
        "_target_": "optuna.pruners.PercentilePruner",
        "percentile": 25.0,
        "n_startup_trials": 5,
        "n_warmup_steps": 0,
        "interval_steps": 1,
        "n_min_trials": 1,
    },
    "hyperband": {
        "_target_": "optuna.pruners.HyperbandPruner",
        "min_resource": 1,
        "max_resource": "auto",
        "reduction_factor": 3,
        "bootstrap_count": 0,
    },
    "successive_halving": {
        "_target_": "optuna.pruners.SuccessiveHalvingPruner",
        "min_resource": "auto",
        "reduction_factor": 4,
        "min_early_stopping_rate": 0,
        "bootstrap_count": 0,
    },
}


@dataclass
class OptunaSweeperConf:
    """``hydra.sweeper`` keys of the Optuna sweeper (see docs/sweeps.md)."""

    _target_: str = SWEEPER_TARGET
    # The sweeper builds sampler and pruner itself (it needs the pruner's config for the jobs).
    _recursive_: bool = False
    defaults: List[Any] = field(
        default_factory=lambda: ["_self_", {"sampler": "tpe"}, {"pruner": "nop"}]
    )
    #: Optuna sampler: ``_target_`` plus its keyword arguments.
    sampler: Any = None
    #: Optuna pruner: ``_target_`` plus its keyword arguments; null or NopPruner: no pruning.
    pruner: Any = None
    #: ``minimize`` | ``maximize``, or a list of them (one per objective the job returns).
    direction: Any = "minimize"
    #: Database URL; null: ``sqlite:///<hydra.sweep.dir>/optuna.db``.
    storage: Optional[str] = None
    #: Study name; null: the Hydra job name. Same storage + same name = resume.
    study_name: Optional[str] = None
    #: Total trials of the study (trials already finished in the storage count).
    n_trials: int = 20
    #: Trials launched together per batch (run in parallel by a parallel launcher).
    n_jobs: int = 2
    #: Stop the sweep with an error once FAIL trials exceed this fraction of finished ones.
    max_failure_rate: float = 1.0
    #: Seconds between the heartbeats the sweeper records for each running trial.
    heartbeat_interval: int = 5
    #: A RUNNING trial without a heartbeat for this long (seconds) belongs to a dead sweeper:
    #: its finished result is kept, or its parameters run again.
    grace_period: int = 20
    #: Searched keys: ``key: interval(a, b) | choice(...) | range(a, b[, step]) | tag(log, ...)``.
    params: Optional[Dict[str, str]] = None


def register_configs() -> None:
    """Store the sweeper schema and its sampler/pruner options in Hydra's ConfigStore."""
    store = ConfigStore.instance()
    store.store(group="hydra/sweeper", name="optuna", node=OptunaSweeperConf, provider="soen_train")
    for name, node in SAMPLERS.items():
        store.store(
            group="hydra/sweeper/sampler", name=name, node=dict(node), provider="soen_train"
        )
    for name, node in PRUNERS.items():
        store.store(group="hydra/sweeper/pruner", name=name, node=dict(node), provider="soen_train")


register_configs()
