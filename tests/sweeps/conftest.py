"""Fixtures for the Optuna sweeper tests (helpers for the toy subprocess: sweep_toy_runner.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from soen_train.sweeps.trial_context import TRIAL_ENV_VARS


@pytest.fixture(autouse=True)
def _no_trial_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts outside any Optuna trial."""
    for name in TRIAL_ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """URL of a fresh SQLite study database in the test's temp dir."""
    return f"sqlite:///{tmp_path / 'study.db'}"
