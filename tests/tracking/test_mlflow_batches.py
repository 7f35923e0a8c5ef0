"""The MLflow logger sends metric values in batches, on a real SQLite store: nothing is sent per
logging call, every value keeps the time it was logged, and a checkpoint never runs ahead of the
store (the flush before each checkpoint write is what lets a SIGKILLed run lose nothing)."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from soen_train.tracking.mlflow_fallback import (
    OFFLINE_FILE,
    MetricsFlush,
    ResilientMLFlowLogger,
    read_offline_log,
)


def _logger(tmp_path: Path) -> ResilientMLFlowLogger:
    return ResilientMLFlowLogger(experiment_name="e", run_name="r",
                                 tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
                                 offline_dir=tmp_path / "logs")


def _history(logger: ResilientMLFlowLogger, key: str) -> list:
    return sorted((m.step, m.value, m.timestamp) for m in logger.experiment.get_metric_history(logger.run_id, key))


def test_values_wait_until_a_checkpoint_is_written_and_keep_their_own_times(tmp_path: Path) -> None:
    logger = _logger(tmp_path)
    before = int(time.time() * 1000)
    for step in range(3):
        logger.log_metrics({"train_loss_step": 1.0 / (step + 1), "epoch": 0.0}, step=step)
        time.sleep(0.01)
    assert _history(logger, "train_loss_step") == []  # nothing sent per call
    MetricsFlush().on_save_checkpoint(SimpleNamespace(loggers=[logger]), None, {})
    history = _history(logger, "train_loss_step")
    assert [(s, v) for s, v, _ in history] == [(0, 1.0), (1, 0.5), (2, 1.0 / 3)]
    stamps = [t for _, _, t in history]
    assert before <= stamps[0] < stamps[1] < stamps[2]  # the logging times, not the send time
    logger.finalize("success")
    assert logger.experiment.get_run(logger.run_id).info.status == "FINISHED"


def test_a_full_or_old_batch_is_sent_by_the_next_logging_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    logger = _logger(tmp_path)
    monkeypatch.setattr(logger, "MAX_WAITING_VALUES", 4)
    logger.log_metrics({"a": 1.0, "b": 2.0}, step=0)
    assert _history(logger, "a") == []
    logger.log_metrics({"a": 3.0, "b": 4.0}, step=1)  # 4 values wait: sent
    assert [(s, v) for s, v, _ in _history(logger, "a")] == [(0, 1.0), (1, 3.0)]
    monkeypatch.setattr(logger, "MAX_WAIT_S", 0.05)
    logger.log_metrics({"a": 5.0}, step=2)
    time.sleep(0.1)
    logger.log_metrics({"a": 7.0}, step=3)  # the oldest waited longer than MAX_WAIT_S: both sent
    assert [v for _, v, _ in _history(logger, "a")] == [1.0, 3.0, 5.0, 7.0]
    logger.log_metrics({"bad key!": 1.0, "note": "text"}, step=4)
    logger.finalize("success")  # the end of the run sends the rest
    assert [v for _, v, _ in _history(logger, "bad key")] == [1.0]  # MLflow's characters only
    assert _history(logger, "note") == []  # a string is no metric value


def test_a_batch_the_store_refuses_goes_offline_with_its_own_times(tmp_path: Path) -> None:
    logger = _logger(tmp_path)
    logger.log_metrics({"val_loss": 0.5}, step=1)
    logger.flush_metrics()
    logged_at = int(time.time() * 1000)
    logger.log_metrics({"val_loss": 0.25}, step=2)
    logger.experiment._tracking_client.store.engine.dispose()
    (tmp_path / "mlflow.db").write_bytes(b"\0" * 4096)  # the store is gone
    time.sleep(0.05)
    logger.flush_metrics()  # must not raise
    logger.finalize("success")
    (entry,) = [e for e in read_offline_log(tmp_path / "logs" / OFFLINE_FILE) if e["kind"] == "metric"]
    assert (entry["key"], entry["value"], entry["step"]) == ("val_loss", 0.25, 2)
    # the server could only have stored it with the time it was logged: the upload looks from then
    assert entry["timestamp"] == entry["unconfirmed_since"] and abs(entry["timestamp"] - logged_at) < 40
