"""A tiny Hydra app for the Optuna sweeper's end-to-end tests (run as a subprocess).

Objective: ``(x - 2)^2 + y^2``. Each of ``steps`` steps reports an intermediate value that
shrinks towards the objective (``objective * (1 + 1/(step + 1))``) and asks the pruner, so
trials far from x=2 are pruned early by a MedianPruner. ``raise_at_x`` / ``nan_at_x`` /
``mode`` make chosen trials raise or return NaN. With ``TOY_KILL_AT_TRIAL=<n>`` in the
environment the process kills itself with SIGKILL while trial n runs, as a crashed sweep would.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Optional

import hydra
import optuna
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from soen_train.sweeps.trial_context import TrialHandle, current_trial


def objective(x: float, y: float) -> float:
    """The quadratic the search minimises: 0 at x=2, y=0."""
    return (x - 2.0) ** 2 + y**2


@hydra.main(version_base="1.3", config_path="toy_conf", config_name="toy")
def main(cfg: DictConfig) -> object:
    """Evaluate one trial: report intermediate values, obey the pruner, return the objective."""
    started = time.time()
    trial = current_trial()
    number = trial.number if trial is not None else -1
    if os.environ.get("TOY_KILL_AT_TRIAL") == str(number):
        os.kill(os.getpid(), signal.SIGKILL)
    try:
        return _evaluate(cfg, trial)
    finally:
        # Lets a test map job dirs to trials and see which jobs ran at the same time, in which
        # process, with how many threads.
        info = {"number": number, "pid": os.getpid(), "start": started, "end": time.time(),
                "omp_threads": os.environ.get("OMP_NUM_THREADS")}
        Path(HydraConfig.get().runtime.output_dir, "job_info.json").write_text(json.dumps(info))


def _evaluate(cfg: DictConfig, trial: Optional[TrialHandle]) -> object:
    """The job's work: fail or return NaN on request, else report each step and return."""
    x, y = float(cfg.x), float(cfg.y)
    if cfg.mode == "raise" or (cfg.raise_at_x is not None and x == float(cfg.raise_at_x)):
        raise RuntimeError(f"toy failure requested at x={x}")
    if cfg.mode == "nan" or (cfg.nan_at_x is not None and x == float(cfg.nan_at_x)):
        return float("nan")
    value = objective(x, y)
    if trial is not None and int(cfg.objectives) == 1:
        for step in range(int(cfg.steps)):
            time.sleep(float(cfg.sleep_s))
            trial.report(value * (1.0 + 1.0 / (step + 1)), step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at step {step}")
    if int(cfg.objectives) == 2:
        return [value, abs(x)]
    return value


if __name__ == "__main__":
    main()
