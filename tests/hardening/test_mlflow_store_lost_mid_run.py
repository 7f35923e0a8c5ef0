"""The MLflow store breaks during training: the run goes on and nothing logged is lost."""

import json

from soen_train.tracking.mlflow_fallback import (
    OFFLINE_FILE,
    ResilientMLFlowLogger,
    read_offline_log,
)


def test_store_replaced_by_garbage_mid_run_switches_to_the_local_log(tmp_path):
    db = tmp_path / "mlflow.db"
    logger = ResilientMLFlowLogger(experiment_name="e", run_name="r", tracking_uri=f"sqlite:///{db}",
                                   offline_dir=tmp_path / "logs")
    logger.log_metrics({"val_loss": 0.5}, step=1)
    logger.flush_metrics()  # values go in batches (tests/tracking/test_mlflow_batches.py)
    assert logger.experiment.get_metric_history(logger.run_id, "val_loss")[0].value == 0.5

    logger.experiment._tracking_client.store.engine.dispose()  # drop pooled connections
    db.write_bytes(b"\0" * 4096)  # the store is gone: a real, unreadable file now
    logger.log_metrics({"val_loss": 0.25}, step=2)
    logger.flush_metrics()  # must not raise
    logger.log_hyperparams({"lr": 0.01})
    logger.finalize("success")

    entries = list(read_offline_log(tmp_path / "logs" / OFFLINE_FILE))
    metrics = [(e["key"], e["value"], e["step"]) for e in entries if e["kind"] == "metric"]
    assert metrics == [("val_loss", 0.25, 2)]
    assert {"lr": "0.01"} in [e["params"] for e in entries if e["kind"] == "params"]
    first = json.loads((tmp_path / "logs" / OFFLINE_FILE).read_text().splitlines()[0])
    assert first["kind"] == "run" and "sqlite" in first["tracking_uri"]
