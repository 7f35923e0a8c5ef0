"""The CLI runs the one validation pass (config.validate) once per distinct job, after Hydra's
compose and before Hydra starts any job; a job does not validate again. The pre-start checks
compose each job once (Hydra composes it again itself when it runs it)."""

from __future__ import annotations

from pathlib import Path
from typing import List

import pytest
from conftest import all_files, tiny

ONE_EPOCH = ("training.max_epochs=1", "training.limit_train_batches=2", "training.limit_val_batches=1",
             "training.test_checkpoint=last", "logger=tensorboard")


@pytest.fixture
def validated(monkeypatch: pytest.MonkeyPatch, cli_here) -> List[dict]:
    """Each call of config.validate.validate: the lr it saw and how many files existed then."""
    import soen_train.config.validate as pass_module

    calls: List[dict] = []
    real = pass_module.validate

    def counting(cfg):
        calls.append({"lr": cfg.training.lr, "files": len(list(all_files(Path(cli_here.root))))})
        return real(cfg)

    monkeypatch.setattr(pass_module, "validate", counting)
    return calls


@pytest.fixture
def composed(monkeypatch: pytest.MonkeyPatch) -> List[List[str]]:
    """The overrides of each job the pre-start checks composed."""
    import soen_train.config.startup_checks as checks

    calls: List[List[str]] = []
    real = checks.compose_job

    def counting(line, overrides):
        calls.append(list(overrides))
        return real(line, overrides)

    monkeypatch.setattr(checks, "compose_job", counting)
    return calls


def test_a_single_run_is_validated_once_before_any_work(cli_here, validated, composed):
    res = cli_here(*tiny(*ONE_EPOCH, "hydra.run.dir=job"))
    assert res.code == 0, res.text[-2000:]
    assert [c["files"] for c in validated] == [0]  # once, before Hydra made the run folder
    assert len(composed) == 1
    assert (Path(cli_here.root) / "job" / "soen_result.json").is_file()


def test_a_sweep_validates_each_distinct_job_once_before_the_first_starts(cli_here, validated, composed):
    res = cli_here("-m", *tiny(*ONE_EPOCH, "hydra.sweep.dir=sweep", "training.lr=0.01,0.02,0.01"))
    assert res.code == 0, res.text[-2000:]
    assert [c["lr"] for c in validated] == [0.01, 0.02]  # the third job repeats the first
    assert all(c["files"] == 0 for c in validated)
    assert [job[-1] for job in composed] == ["training.lr=0.01", "training.lr=0.02", "training.lr=0.01"]
    assert len(list((Path(cli_here.root) / "sweep").glob("*/soen_result.json"))) == 3
