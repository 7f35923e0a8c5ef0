"""Faults during training, provoked for real: a loss that overflows, SIGTERM to the running
process, a crash in the middle of a checkpoint write, an MLflow server that is not there."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from conftest import SOEN_TRAIN, child_env, run_dir, tiny
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

# From epoch 2 on (per-epoch progress through the window [1, 1]) the cross-entropy weight is
# 1e39: the float32 total overflows on the first step of epoch 2.
OVERFLOW_AT_EPOCH_1 = (
    "callbacks.loss_weight_schedulers=[{loss_name:cross_entropy,scheduler_type:linear,"
    "params:{min_weight:1.0,max_weight:1e39},start_epoch:1,end_epoch:1,per_step:false}]"
)


def _ckpts(root: Path, project: str = "experiments") -> Path:
    return run_dir(root, project) / "checkpoints" / "repeat_0"


def test_overflowing_loss_stops_with_step_and_term_and_keeps_earlier_checkpoints(cli_here, tmp_path):
    res = cli_here(*tiny("logger=tensorboard", "training.max_epochs=3", "hydra.run.dir=job", OVERFLOW_AT_EPOCH_1))
    assert res.code == 2, res.text[-3000:]
    (line,) = [ln for ln in res.err.splitlines() if ln.startswith("Error: ")]
    assert "Traceback" not in res.text
    assert "train loss became inf at epoch 2, step 4" in line  # 2 batches per epoch: first step of epoch 2
    assert "non-finite terms: cross_entropy (x weight 1e+39)" in line
    result = json.loads((tmp_path / "job" / "soen_result.json").read_text())
    assert result["status"] == "failed" and "NonFiniteLossError" in result["error"]
    folder = _ckpts(tmp_path)
    names = sorted(p.name for p in folder.iterdir())
    assert "last.ckpt" in names and "best.soen" in names
    assert not [n for n in names if n.startswith("epoch=02")]
    last = torch.load(folder / "last.ckpt", map_location="cpu", weights_only=True)
    assert last["epoch"] == 1 and last["global_step"] == 4  # the last good state: end of epoch 1
    for name in [n for n in names if n.endswith(".ckpt")]:
        ckpt = torch.load(folder / name, map_location="cpu", weights_only=True)
        assert ckpt["epoch"] <= 1
        assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values())
    from soen_train.model import SOENModel

    model = SOENModel.load(folder / "best.soen")
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_overflowing_loss_in_an_optuna_sweep_marks_the_trial_failed(cli_here, tmp_path):
    import optuna

    res = cli_here("-m", *tiny("hparams_search=optuna", "logger=tensorboard", "hydra.sweeper.n_trials=1",
                               "hydra.sweeper.n_jobs=1", "hydra.sweep.dir=sweep", "training.max_epochs=3",
                               OVERFLOW_AT_EPOCH_1))
    assert "Traceback" not in res.err or "NonFiniteLossError" in res.text, res.text[-3000:]
    study = optuna.load_study(study_name="hparams_optuna", storage=f"sqlite:///{tmp_path / 'sweep' / 'optuna.db'}")
    (trial,) = study.trials
    assert trial.state == optuna.trial.TrialState.FAIL
    (result,) = list((tmp_path / "sweep").rglob("soen_result.json"))
    assert json.loads(result.read_text())["status"] == "failed"


def test_sigterm_mid_training_leaves_a_resumable_last_ckpt(cli_here, tmp_path):
    args = tiny("logger=tensorboard", "training.max_epochs=100000", "hydra.run.dir=job")
    proc = subprocess.Popen([SOEN_TRAIN, *args], cwd=tmp_path, env=child_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    folder = _ckpts(tmp_path)
    deadline = time.monotonic() + 180
    while not list(folder.glob("epoch=*.ckpt")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()[0][-3000:]
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0, out[-2000:]
    assert "Traceback" not in out, out[-3000:]
    assert "SIGTERM" in out and "train_from_checkpoint" in out, out[-2000:]
    stopped = torch.load(folder / "last.ckpt", map_location="cpu", weights_only=True)
    assert stopped["global_step"] >= 2  # at least one epoch of 2 batches
    for older in folder.glob("epoch=*.ckpt"):  # earlier files are intact
        torch.load(older, map_location="cpu", weights_only=True)
    result = json.loads((tmp_path / "job" / "soen_result.json").read_text())
    assert result["status"] == "interrupted"

    target = stopped["epoch"] + 2
    res = cli_here(*tiny("logger=tensorboard", f"training.max_epochs={target}", "hydra.run.dir=job2",
                         f"training.train_from_checkpoint={folder / 'last.ckpt'}"))
    assert res.code == 0, res.text[-3000:]
    done = torch.load(folder / "last.ckpt", map_location="cpu", weights_only=True)
    assert done["epoch"] >= stopped["epoch"] and done["global_step"] > stopped["global_step"]
    assert done["global_step"] <= 2 * target  # never more than max_epochs x 2 batches in all
    assert json.loads((tmp_path / "job2" / "soen_result.json").read_text())["status"] == "completed"


CRASH_WRITER = textwrap.dedent("""
    import os, sys, torch
    from soen_train.training.checkpointing import AtomicCheckpointIO

    class DiesWhilePickled:
        def __reduce__(self):
            os._exit(9)  # the process dies half-way through writing, no clean-up runs

    path = sys.argv[1]
    io = AtomicCheckpointIO()
    io.save_checkpoint({"state_dict": {"w": torch.arange(6.0)}, "epoch": 0}, path)
    big = torch.ones(200_000)
    io.save_checkpoint({"state_dict": {"w": big}, "epoch": 1, "z": DiesWhilePickled()}, path)
""")


def test_crash_mid_checkpoint_write_leaves_the_previous_checkpoint_valid(tmp_path):
    path = tmp_path / "last.ckpt"
    proc = subprocess.run([sys.executable, "-c", CRASH_WRITER, str(path)], env=child_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 9, proc.stderr
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    assert ckpt["epoch"] == 0 and torch.equal(ckpt["state_dict"]["w"], torch.arange(6.0))
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "last.ckpt"]
    assert all(name.startswith(".last.tmp") for name in leftovers)  # only the abandoned temp file


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


def _tb_scalars(logs: Path) -> dict:
    out: dict = {}
    for events in sorted(logs.glob("events.out.tfevents.*")):
        acc = EventAccumulator(str(events), size_guidance={"scalars": 0})
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            out.setdefault(tag, []).extend((e.step, e.value) for e in acc.Scalars(tag))
    return out


def test_unreachable_mlflow_server_keeps_training_and_loses_nothing(cli_here, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    uri = f"http://127.0.0.1:{_closed_port()}"
    started = time.monotonic()
    res = cli_here(*tiny("logger=both", f"logging.mlflow_tracking_uri={uri}", "hydra.run.dir=job"))
    assert res.code == 0, res.text[-3000:]
    assert time.monotonic() - started < 120
    assert f"MLflow tracking server {uri} is unreachable" in res.text
    assert "python -m soen_train.tracking.mlflow_fallback upload" in res.text
    assert json.loads((tmp_path / "job" / "soen_result.json").read_text())["status"] == "completed"

    from soen_train.tracking.mlflow_fallback import read_offline_log, upload_offline_log

    logs = run_dir(tmp_path) / "logs" / "repeat_0"
    entries = list(read_offline_log(logs / "mlflow_offline.jsonl"))
    assert entries[0]["kind"] == "run" and entries[0]["tracking_uri"] == uri
    params = {k: v for e in entries if e["kind"] == "params" for k, v in e["params"].items()}
    assert params["training.max_epochs"] == "2"
    tags = {k: v for e in entries if e["kind"] == "tags" for k, v in e["tags"].items()}
    assert tags["seed"] == "42" and tags["soen.git_commit"] == "none"
    local = {}
    for e in entries:
        if e["kind"] == "metric":
            local.setdefault(e["key"], []).append((e["step"], e["value"]))
    tb = _tb_scalars(logs)
    for key in ("val_loss", "train_loss", "val_accuracy", "train_loss_step"):
        assert [round(v, 6) for _, v in local[key]] == [round(v, 6) for _, v in tb[key]], key
        assert [s for s, _ in local[key]] == [s for s, _ in tb[key]], key

    # the upload the warning suggests: replay into a reachable store and read it back
    store = f"sqlite:///{tmp_path / 'later.db'}"
    run_id = upload_offline_log(logs / "mlflow_offline.jsonl", tracking_uri=store)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=store)
    run = client.get_run(run_id)
    assert run.data.params["training.max_epochs"] == "2"
    history = client.get_metric_history(run_id, "val_loss")
    assert [(m.step, round(m.value, 6)) for m in history] == [(s, round(v, 6)) for s, v in local["val_loss"]]


def test_metrics_of_a_crash_stay_in_the_offline_file(tmp_path):
    from soen_train.tracking.mlflow_fallback import LocalMLflowLog, read_offline_log

    path = tmp_path / "mlflow_offline.jsonl"
    logger = LocalMLflowLog(path, "e", "r", "http://nowhere:1", {"a": "1"}, "refused")
    logger.log_metrics({"val_loss": 0.5}, step=3)
    with open(path, "a") as fh:
        fh.write('{"kind": "metric", "key": "val_lo')  # torn line of a process killed mid-write
    (metric,) = [e for e in read_offline_log(path) if e["kind"] == "metric"]
    assert (metric["key"], metric["value"], metric["step"]) == ("val_loss", 0.5, 3)


@pytest.mark.parametrize("uri", ["sqlite:///x.db", "file:./mlruns", "relative/store"])
def test_local_stores_are_never_probed(uri):
    from soen_train.tracking.mlflow_fallback import tracking_server_problem

    assert tracking_server_problem(uri, timeout_s=0.1) is None
