"""`logger=mlflow_server` against a real `mlflow server` with basic auth (`make services`).

What is asserted is what the server holds, read back with `MlflowClient` over HTTP, against
the run's own TensorBoard events (read with the project's `TBReader`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pytest
from sweep_cli import kill_group, run_cli, start_cli, tiny_job_args

from soen_train.tracking.mlflow_fallback import OFFLINE_FILE, read_offline_log
from soen_train.tracking.tb_reader import TBReader

SPARE_PORT = 5056  # the test's own server, which it stops and starts (the shared one stays up)


def _args(root: Path, uri: str, experiment: str, *extra: str) -> list[str]:
    return [*tiny_job_args(root, mlflow=True), "logger=mlflow_server",
            f"logging.mlflow_tracking_uri={uri}", f"logging.mlflow_experiment_name={experiment}",
            *extra]


def _client(server: dict[str, str], uri: str | None = None):
    from mlflow.tracking import MlflowClient

    os.environ["MLFLOW_TRACKING_USERNAME"] = server["user"]
    os.environ["MLFLOW_TRACKING_PASSWORD"] = server["password"]
    return MlflowClient(tracking_uri=uri or server["uri"])


def _runs(client, experiment: str) -> list:
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id]) if exp else []


def _tb_series(root: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar series of the run's TensorBoard events but the hparams/ summary (TB only)."""
    frame = TBReader(root).scalars()
    frame = frame[~frame["tag"].str.startswith("hparams/")]
    return {tag: sorted(zip(g["step"].astype(int), g["value"].astype(float)))
            for tag, g in frame.groupby("tag")}


def _server_series(client, run_id: str, keys) -> dict[str, list[tuple[int, float]]]:
    """The server's metric histories, rounded to float32 as TensorBoard stores them."""
    return {k: sorted((m.step, float(np.float32(m.value))) for m in client.get_metric_history(run_id, k)) for k in keys}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD",
                 "MLFLOW_TRACKING_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def test_run_on_the_server_has_its_metrics_params_and_best_soen(
        tmp_path: Path, mlflow_server: dict[str, str], clean_env: None) -> None:
    experiment = f"team_{uuid.uuid4().hex[:8]}"
    run_cli(_args(tmp_path, mlflow_server["uri"], experiment, "training.lr=0.02",
                  f"logging.mlflow_username={mlflow_server['user']}",
                  f"logging.mlflow_password={mlflow_server['password']}"), cwd=tmp_path)

    client = _client(mlflow_server)
    [run] = _runs(client, experiment)
    assert run.info.status == "FINISHED"
    assert float(run.data.params["training.lr"]) == 0.02
    assert mlflow_server["password"] not in str(run.data.params) + str(run.data.tags)
    tb = _tb_series(tmp_path / "experiments")
    assert "val_loss" in tb and set(run.data.metrics) == set(tb)
    assert _server_series(client, run.info.run_id, tb) == tb

    [best] = list((tmp_path / "experiments").rglob("best.soen"))
    arts = {a.path: a.file_size for a in client.list_artifacts(run.info.run_id)}
    assert arts.get("best.soen") == best.stat().st_size
    fetched = Path(client.download_artifacts(run.info.run_id, "best.soen", str(tmp_path / "dl")))
    assert fetched.read_bytes() == best.read_bytes()


def test_a_wrong_password_is_one_error_line_before_training(
        tmp_path: Path, mlflow_server: dict[str, str], clean_env: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    experiment = f"team_{uuid.uuid4().hex[:8]}"
    user = f"logging.mlflow_username={mlflow_server['user']}"
    by_config = run_cli(_args(tmp_path, mlflow_server["uri"], experiment, user,
                              "logging.mlflow_password=not-the-password"), cwd=tmp_path, expect_ok=False)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "not-the-password-either")
    by_env = run_cli(_args(tmp_path, mlflow_server["uri"], experiment, user), cwd=tmp_path,
                     expect_ok=False)
    for out in (by_config, by_env):
        assert out.returncode != 0
        errors = [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("Error:")]
        assert len(errors) == 1, out.stderr[-3000:]
        assert "HTTP 401" in errors[0] and repr(mlflow_server["user"]) in errors[0]
        assert "logging.mlflow_password" in errors[0] and "not-the-password" not in errors[0]
        assert "Traceback" not in out.stderr
    assert not list((tmp_path / "experiments").rglob("*.soen"))  # no training happened
    assert not list((tmp_path / "experiments").rglob("events.out.tfevents.*"))
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD")
    assert _runs(_client(mlflow_server), experiment) == []  # the server recorded nothing


def _start_server(server: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    """A second `mlflow server` on the shared stores (auth database included)."""
    env = {**os.environ, "MLFLOW_AUTH_CONFIG_PATH": server["auth_config"],
           "MLFLOW_FLASK_SERVER_SECRET_KEY": Path(server["secret_file"]).read_text().strip()}
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("mlflow")), "server", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1", "--app-name", "basic-auth",
         "--backend-store-uri", server["backend"], "--artifacts-destination", server["artifacts"]],
        env=env, stdout=log.open("a"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
            return proc
        except OSError:
            time.sleep(0.5)
    kill_group(proc)
    raise AssertionError(f"mlflow server on port {port} did not answer: {log.read_text()[-3000:]}")


def test_server_stopped_mid_run_then_upload_replays_into_the_same_run(
        tmp_path: Path, mlflow_server: dict[str, str], clean_env: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    uri = f"http://127.0.0.1:{SPARE_PORT}"
    experiment = f"team_{uuid.uuid4().hex[:8]}"
    server = _start_server(mlflow_server, SPARE_PORT, tmp_path / "server.log")
    client = _client(mlflow_server, uri)  # also exports the credentials the run inherits
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # fail over at once, not after minutes
    train = start_cli(_args(tmp_path, uri, experiment, "training.max_epochs=8"),
                      tmp_path, tmp_path / "train.log")
    try:
        deadline = time.monotonic() + 90
        while True:  # the first epoch's val_loss is on the server: stop the server
            assert train.poll() is None and time.monotonic() < deadline, (tmp_path / "train.log").read_text()[-3000:]
            runs = _runs(client, experiment)
            if runs and client.get_metric_history(runs[0].info.run_id, "val_loss"):
                break
            time.sleep(0.2)
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
        assert train.wait(timeout=120) == 0, (tmp_path / "train.log").read_text()[-3000:]
    finally:
        kill_group(train)
        kill_group(server)
    run_id = runs[0].info.run_id
    [offline] = list((tmp_path / "experiments").rglob(OFFLINE_FILE))
    entries = list(read_offline_log(offline))
    assert entries[0]["continues_run"] == run_id
    assert any(e["kind"] == "metric" for e in entries) and entries[-1] == {"kind": "end", "status": "FINISHED"}
    assert [Path(e["path"]).name for e in entries if e["kind"] == "artifact"] == ["best.soen"]

    server = _start_server(mlflow_server, SPARE_PORT, tmp_path / "server.log")
    try:
        up = subprocess.run([sys.executable, "-m", "soen_train.tracking.mlflow_fallback", "upload",
                             str(offline)], capture_output=True, text=True, timeout=120)
        assert up.returncode == 0, up.stderr[-3000:]
        assert up.stdout.strip().splitlines()[-1] == f"{offline} -> run {run_id}"
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED" and len(_runs(client, experiment)) == 1
        tb = _tb_series(tmp_path / "experiments")
        assert set(run.data.metrics) == set(tb)
        assert _server_series(client, run_id, tb) == tb  # before + after the outage, none lost
        [best] = list((tmp_path / "experiments").rglob("best.soen"))  # written after the outage
        arts = {a.path: a.file_size for a in client.list_artifacts(run_id)}
        assert arts.get("best.soen") == best.stat().st_size
    finally:
        kill_group(server)


def test_a_reply_lost_after_the_server_stored_the_metrics_is_not_uploaded_twice(
        tmp_path: Path, mlflow_server: dict[str, str], clean_env: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The server stores a metric batch, then the connection breaks before its answer arrives:
    the run goes offline with that batch too, and the upload must not write it a second time."""
    from urllib.parse import urlparse

    from reply_dropping_proxy import ReplyDroppingProxy

    from soen_train.tracking.mlflow_fallback import ResilientMLFlowLogger, upload_offline_log

    client = _client(mlflow_server)  # exports the credentials the logger uses
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    target = urlparse(mlflow_server["uri"])
    proxy = ReplyDroppingProxy((target.hostname, target.port))
    try:
        logger = ResilientMLFlowLogger(experiment_name=f"team_{uuid.uuid4().hex[:8]}", run_name="r",
                                       tracking_uri=f"http://127.0.0.1:{proxy.port}",
                                       offline_dir=tmp_path / "logs")
        logger.log_metrics({"val_loss": 0.5, "epoch": 0.0}, step=1)
        logger.flush_metrics()  # values go to the server in batches: send this one now
        proxy.drop_next_reply()
        logger.log_metrics({"val_loss": 0.25, "epoch": 1.0}, step=2)
        logger.flush_metrics()  # stored; the answer is lost
        assert proxy.dropped.is_set()
        logger.log_metrics({"val_loss": 0.125, "epoch": 1.0}, step=2)  # offline: the same step again
        logger.finalize("success")
    finally:
        proxy.close()
    run_id = logger.run_id
    assert [(m.step, m.value) for m in client.get_metric_history(run_id, "val_loss")] == [(1, 0.5), (2, 0.25)]
    offline = tmp_path / "logs" / OFFLINE_FILE
    doubtful = [(e["key"], e["step"]) for e in read_offline_log(offline) if "unconfirmed_since" in e]
    assert sorted(doubtful) == [("epoch", 2), ("val_loss", 2)]

    assert upload_offline_log(offline, tracking_uri=mlflow_server["uri"]) == run_id
    history = {k: sorted((m.step, m.value) for m in client.get_metric_history(run_id, k))
               for k in ("val_loss", "epoch")}
    assert history == {"val_loss": [(1, 0.5), (2, 0.125), (2, 0.25)],
                       "epoch": [(1, 0.0), (2, 1.0), (2, 1.0)]}  # the second epoch=1 at step 2 is the offline call's
    assert client.get_run(run_id).info.status == "FINISHED"
