"""Run the toy Hydra app (toy_app.py) as a real Optuna multirun subprocess and read its study."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

import optuna

from soen_train.sweeps.trial_context import TRIAL_ENV_VARS

TOY_APP = Path(__file__).with_name("toy_app.py")


def toy_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """Environment for a toy-app subprocess: one thread, no inherited trial variables."""
    env = {k: v for k, v in os.environ.items() if k not in TRIAL_ENV_VARS}
    env.update({"OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "1", "PYTHONWARNINGS": "ignore"})
    env.update(extra or {})
    return env


def toy_command(sweep_dir: Path, *overrides: str) -> List[str]:
    """The command line of an Optuna multirun of the toy app into ``sweep_dir``."""
    return [
        sys.executable,
        str(TOY_APP),
        "-m",
        "hydra/sweeper=optuna",
        f"hydra.sweep.dir={sweep_dir}",
        *overrides,
    ]


def run_toy(
    sweep_dir: Path,
    *overrides: str,
    extra_env: Optional[Dict[str, str]] = None,
    expect_rc: Optional[int] = 0,
    timeout: float = 120,
) -> subprocess.CompletedProcess:
    """Run the toy sweep to the end; assert its exit code (None: any)."""
    proc = subprocess.run(
        toy_command(sweep_dir, *overrides),
        cwd=sweep_dir.parent,
        env=toy_env(extra_env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if expect_rc is not None:
        assert proc.returncode == expect_rc, f"rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def load_trials(sweep_dir: Path, study_name: str = "toy_app") -> List[optuna.trial.FrozenTrial]:
    """All trials of the sweep's default-storage study, by number."""
    study = optuna.load_study(study_name=study_name, storage=f"sqlite:///{sweep_dir / 'optuna.db'}")
    return sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)


def toy_objective(x: float, y: float = 0.0) -> float:
    """The toy app's objective, restated here so tests check numbers, not the app."""
    return (x - 2.0) ** 2 + y**2
