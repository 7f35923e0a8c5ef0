"""Same seed + deterministic mode: identical metrics across runs and across a resume; each job
records package versions, the user's git commit and the composed config."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import torch
from conftest import run_dir, tiny
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

DET = ["training.deterministic=true", "logger=tensorboard", "lr_scheduler=cosine",
       "callbacks.lr_scheduler.cycle_epochs=2"]


def _scalars(logs: Path) -> dict:
    """Every TensorBoard scalar of a repeat folder as {tag: [(step, value), ...]}."""
    out: dict = {}
    for events in sorted(logs.glob("events.out.tfevents.*")):
        acc = EventAccumulator(str(events), size_guidance={"scalars": 0})
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            out.setdefault(tag, []).extend((e.step, e.value) for e in acc.Scalars(tag))
    # file names order by wall-clock second, then a per-process counter compared as text
    # (".10" < ".9"): order the points by step instead
    return {tag: sorted(points) for tag, points in out.items()}


def _result(job: Path) -> dict:
    return json.loads((job / "soen_result.json").read_text())["repeats"][0]["metrics"]


def test_two_runs_and_a_resume_give_identical_metrics(cli_here, tmp_path):
    for name in ("a", "b"):
        res = cli_here(*tiny(*DET, "training.max_epochs=3", f"logging.project_dir={name}", f"hydra.run.dir=job_{name}"))
        assert res.code == 0, res.text[-3000:]
    a, b = _result(tmp_path / "job_a"), _result(tmp_path / "job_b")
    assert a == b and a["epochs_trained"] == 3.0
    sa = _scalars(run_dir(tmp_path, "a") / "logs" / "repeat_0")
    sb = _scalars(run_dir(tmp_path, "b") / "logs" / "repeat_0")
    assert sa["val_loss"] == sb["val_loss"] and len(sa["val_loss"]) == 3
    assert sa["train_loss_step"] == sb["train_loss_step"]

    # stop after 2 epochs, resume to 3: the resumed epoch reproduces epoch 3 of the full run
    res = cli_here(*tiny(*DET, "training.max_epochs=2", "logging.project_dir=c", "hydra.run.dir=job_c1"))
    assert res.code == 0, res.text[-3000:]
    last = run_dir(tmp_path, "c") / "checkpoints" / "repeat_0" / "last.ckpt"
    res = cli_here(*tiny(*DET, "training.max_epochs=3", "logging.project_dir=c", "hydra.run.dir=job_c2",
                         f"training.train_from_checkpoint={last}"))
    assert res.code == 0, res.text[-3000:]
    resumed = _scalars(run_dir(tmp_path, "c") / "logs" / "repeat_0")
    assert resumed["val_loss"][-1] == sa["val_loss"][-1]
    assert _result(tmp_path / "job_c2")["final_val_loss"] == a["final_val_loss"]
    full = torch.load(run_dir(tmp_path, "a") / "checkpoints" / "repeat_0" / "last.ckpt", weights_only=True)
    again = torch.load(last, weights_only=True)
    for key, value in full["state_dict"].items():
        assert torch.equal(value, again["state_dict"][key]), key


def test_run_record_names_versions_commit_and_config(cli_here, tmp_path):
    import lightning
    import torch as torch_module

    res = cli_here(*tiny("logger=mlflow", "training.max_epochs=1", "hydra.run.dir=plain"))
    assert res.code == 0, res.text[-3000:]
    record = json.loads((tmp_path / "plain" / "run_record.json").read_text())
    assert record["git"]["commit"] == "none"  # tmp_path is no git repository
    assert record["packages"]["torch"] == torch_module.__version__
    assert record["packages"]["lightning"] == lightning.__version__
    assert record["config"]["training"]["max_epochs"] == 1
    assert record["config"]["data"]["dataset_params"]["n_train"] == 64
    assert "training.max_epochs=1" in record["overrides"]

    # the same record on the MLflow run, as tags
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'experiments/project_soen/mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("pulses").experiment_id])
    assert run.data.tags["soen.git_commit"] == "none"
    assert run.data.tags["soen.version.torch"] == torch_module.__version__
    assert run.data.params["training.max_epochs"] == "1"


def test_run_record_reads_the_users_git_commit(cli_here, tmp_path):
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "notes.txt").write_text("project\n")
    subprocess.run([*git, "add", "notes.txt"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "first"], cwd=tmp_path, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    from soen_train.config.schema import SOENTrainConfig
    from soen_train.run_record import build_run_record

    record = build_run_record(SOENTrainConfig(), working_dir=tmp_path, overrides=["logging.mlflow_password=x"])
    assert record["git"] == {"commit": head, "dirty": False, "root": str(tmp_path.resolve())}
    assert record["overrides"] == ["logging.mlflow_password=***"]
    (tmp_path / "notes.txt").write_text("changed\n")
    assert build_run_record(SOENTrainConfig(), working_dir=tmp_path)["git"]["dirty"] is True
