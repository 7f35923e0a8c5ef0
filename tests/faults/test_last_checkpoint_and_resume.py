"""`last.ckpt` is the latest state, and a run killed with SIGKILL resumes into the same MLflow run.

The first test uses Lightning's real ModelCheckpoint behaviour (no mocks): with a val_loss that
gets worse after epoch 0, plain ModelCheckpoint keeps `last.ckpt` at epoch 0.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from sweep_cli import SOEN_TRAIN, TINY_PULSES_ARGS, _env, run_cli
from torch.utils.data import DataLoader, TensorDataset

from soen_train.training.checkpointing import AtomicCheckpointIO, SOENModelCheckpoint


class _Linear(torch.nn.Linear):
    """A linear layer with the `save` the checkpoint callback exports `best.soen` through."""

    def save(self, path) -> None:
        torch.save(self.state_dict(), path)


class _WorseEachEpoch(pl.LightningModule):
    """A linear model whose logged val_loss is 1, 2, 3, ... (only epoch 0 is ever the best)."""

    def __init__(self) -> None:
        super().__init__()
        self.model = _Linear(1, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.mse_loss(self.model(x), y)

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", float(self.current_epoch + 1))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _fit(tmp_path: Path, callback: pl.Callback, epochs: int = 3) -> dict:
    data = TensorDataset(torch.randn(8, 1), torch.randn(8, 1))
    loader = DataLoader(data, batch_size=4)
    trainer = pl.Trainer(max_epochs=epochs, callbacks=[callback], logger=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0, plugins=[AtomicCheckpointIO()])
    trainer.fit(_WorseEachEpoch(), loader, loader)
    return torch.load(tmp_path / "last.ckpt", map_location="cpu", weights_only=True)


def test_last_ckpt_holds_the_final_epoch_when_val_loss_gets_worse(tmp_path: Path) -> None:
    kwargs = dict(filename="{epoch:02d}", monitor="val_loss", mode="min", save_top_k=1, save_last=True)
    plain = _fit(tmp_path / "plain", pl.callbacks.ModelCheckpoint(dirpath=tmp_path / "plain", **kwargs))
    assert plain["epoch"] == 0  # the fault: Lightning rewrites last.ckpt only with a new best
    ours = _fit(tmp_path / "ours", SOENModelCheckpoint(dirpath=tmp_path / "ours", **kwargs))
    assert ours["epoch"] == 2 and ours["global_step"] == 6  # 3 epochs x 2 batches
    best = [p.name for p in (tmp_path / "ours").glob("epoch=*.ckpt")]
    assert best == ["epoch=00.ckpt"]  # top-k unchanged: only the best epoch is kept
    assert not list((tmp_path / "ours").glob(".*tmp*"))


def _args(root: Path, *extra: str) -> list[str]:
    return ["+experiment=pulses", *TINY_PULSES_ARGS, f"logging.project_dir={root / 'exp'}",
            f"data.data_path={root / 'data.h5'}", *extra]


def _ckpt_dir(root: Path, folder: str = "repeat_0") -> Path:
    return root / "exp/project_soen/experiment_pulses/group_default_group/checkpoints" / folder


def _runs(root: Path) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'exp/project_soen/mlflow.db'}")
    exp = client.get_experiment_by_name("pulses")
    return client.search_runs([exp.experiment_id]) if exp else []


def test_sigkill_mid_epoch_then_resume_continues_the_same_mlflow_run(tmp_path: Path) -> None:
    log = (tmp_path / "killed.log").open("w")
    proc = subprocess.Popen([SOEN_TRAIN, *_args(tmp_path, "training.max_epochs=100000", "hydra.run.dir=job1")],
                            cwd=tmp_path, env=_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    last = _ckpt_dir(tmp_path) / "last.ckpt"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if last.is_file() and torch.load(last, map_location="cpu", weights_only=True)["epoch"] >= 1:
                break
            time.sleep(0.3)
        assert proc.poll() is None, (tmp_path / "killed.log").read_text()[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    stopped = torch.load(last, map_location="cpu", weights_only=True)
    (killed_run,) = _runs(tmp_path)
    assert killed_run.info.status == "RUNNING"  # nothing could close it
    assert stopped["soen_run_identity"]["mlflow_run_id"] == killed_run.info.run_id
    assert stopped["epoch"] >= 1

    # A new run in the same experiment finds the dead writer and ends its run KILLED.
    run_cli(_args(tmp_path, "training.max_epochs=1", "hydra.run.dir=job2"), cwd=tmp_path)
    states = {r.info.run_id: r.info.status for r in _runs(tmp_path)}
    assert states[killed_run.info.run_id] == "KILLED" and list(states.values()).count("FINISHED") == 1

    # Resume: the killed run goes on (same id), and finishes.
    target = stopped["epoch"] + 3
    run_cli(_args(tmp_path, f"training.max_epochs={target}", "hydra.run.dir=job3",
                  f"training.train_from_checkpoint={last}"), cwd=tmp_path)
    runs = {r.info.run_id: r for r in _runs(tmp_path)}
    assert len(runs) == 2 and all(r.info.status == "FINISHED" for r in runs.values())
    resumed = runs[killed_run.info.run_id]
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'exp/project_soen/mlflow.db'}")
    epochs = sorted({int(m.value) for m in client.get_metric_history(resumed.info.run_id, "epoch")})
    assert set(range(target)) <= set(epochs)  # one run holds the epochs before and after the kill
    done = torch.load(last, map_location="cpu", weights_only=True)
    assert done["epoch"] == target - 1


@pytest.mark.parametrize("first,second", [("sgd", "adam")])
def test_resume_with_a_changed_optimizer_names_the_keys(tmp_path: Path, first: str, second: str) -> None:
    run_cli(_args(tmp_path, "logger=tensorboard", "training.max_epochs=1", "hydra.run.dir=a",
                  f"training.optimizer.name={first}"), cwd=tmp_path)
    last = _ckpt_dir(tmp_path) / "last.ckpt"
    out = run_cli(_args(tmp_path, "logger=tensorboard", "training.max_epochs=2", "hydra.run.dir=b",
                        f"training.optimizer.name={second}", f"training.train_from_checkpoint={last}"),
                  cwd=tmp_path, expect_ok=False)
    assert out.returncode == 2, out.stderr[-3000:]
    (line,) = [ln for ln in out.stderr.splitlines() if ln.startswith("Error:")]
    assert "Traceback" not in out.stderr and "KeyError" not in out.stderr
    assert f"training.optimizer.name: {first} -> {second}" in line
