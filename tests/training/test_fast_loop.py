"""soen-train's fast loop (training/fast_loop.py) against Lightning's own loop, on real runs.

The same tiny pulses job is trained through the real runner with ``training.fast_loop`` on and
off: every TensorBoard value (step and number), every checkpoint file and every saved tensor
must be the same. A run that needs Lightning's per-batch hooks says so and uses Lightning's
loop; a real SIGTERM in the middle of a fast epoch leaves a checkpoint from which a resume
ends with exactly the weights of a run that never stopped.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Dict, List, Tuple

import lightning.pytorch as pl
import pytest
import torch
from hydra import compose, initialize_config_dir
from lightning.pytorch.utilities.exceptions import SIGTERMException
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from soen_train.config.conf_dir import CONF_DIR
from soen_train.config.loading import to_job_config
from soen_train.config.store import register_configs
from soen_train.training.datamodule_factory import build_datamodule
from soen_train.training.model_factory import build_model
from soen_train.training.module import FAST_LOOP_KEY, SOENLightningModule
from soen_train.training.run_paths import RunPaths
from soen_train.training.runner import build_module, run_job
from soen_train.training.trainer_factory import build_callbacks, build_trainer

TINY = [
    "+experiment=pulses",
    "data.dataset_params.n_train=88",  # 6 batches of 16, the last one of 8
    "data.dataset_params.n_val=24",
    "data.dataset_params.n_test=24",
    "data.dataset_params.seq_len=24",
    "training.batch_size=16",
    "logger=tensorboard",
    "logging.progress_bar=false",
    "logging.log_freq=2",
]
# gradient clipping by value, a cosine LR schedule, two loss terms, gradient-norm logging
# (an on_before_optimizer_step callback), a limit on the training batches, the progress bar
RICH = [
    "training.gradient_clip_val=0.05", "training.gradient_clip_algorithm=value", "lr_scheduler=cosine",
    "callbacks.lr_scheduler.cycle_epochs=2", "loss=ce_reg_j", "logging.log_gradients=true",
    "training.limit_train_batches=4", "logging.progress_bar=true",
]


def _cfg(tmp: Path, *overrides: str):
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[
            *TINY, f"data.data_path={tmp.parent / 'p.h5'}", f"logging.project_dir={tmp}", *overrides])
    return to_job_config(cfg)


def _run(tmp: Path, *overrides: str) -> Tuple[Dict[str, List[Tuple[int, float]]], Path, dict]:
    """TensorBoard scalars, checkpoint folder and result file of one real tiny job."""
    run_job(_cfg(tmp, *overrides), tmp / "job")
    group = next(tmp.glob("project_soen/experiment_pulses/group_*"))
    events = EventAccumulator(str(group / "logs" / "repeat_0"))
    events.Reload()
    # by step: a run's writers each have an event file, read in the order of their names
    scalars = {t: sorted((e.step, e.value) for e in events.Scalars(t)) for t in events.Tags()["scalars"]}
    result = json.loads((tmp / "job" / "soen_result.json").read_text())
    return scalars, group / "checkpoints" / "repeat_0", result


def _tensors(path: Path) -> Dict[str, torch.Tensor]:
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    out = {f"model.{k}": v for k, v in ckpt["state_dict"].items()}
    for i, state in ckpt["optimizer_states"][0]["state"].items():
        out.update({f"adam.{i}.{k}": torch.as_tensor(v) for k, v in state.items()})
    out["global_step"] = torch.tensor(ckpt["global_step"])
    return out


@pytest.mark.parametrize("extra", [[], RICH], ids=["default", "clip-cosine-two-losses-limit-bar"])
def test_fast_and_lightning_loops_log_and_save_the_same_numbers(tmp_path: Path, extra: List[str]) -> None:
    fast = _run(tmp_path / "fast", "training.max_epochs=3", *extra)
    slow = _run(tmp_path / "lightning", "training.max_epochs=3", "training.fast_loop=false", *extra)
    assert fast[2]["repeats"][0]["training_loop"] == "fast"
    assert slow[2]["repeats"][0]["training_loop"] == "lightning: training.fast_loop is false"
    assert sorted(fast[0]) == sorted(slow[0])
    for tag, values in slow[0].items():
        assert fast[0][tag] == values, tag
    steps = 3 * (4 if extra else 6)
    assert fast[0]["val_loss"][-1][0] == steps - 1 and fast[0]["lr"][0][0] == 0
    files = sorted(p.name for p in fast[1].iterdir())
    assert files == sorted(p.name for p in slow[1].iterdir()) and "last.ckpt" in files
    for name in files:
        if name.endswith(".ckpt"):
            a, b = _tensors(fast[1] / name), _tensors(slow[1] / name)
            assert sorted(a) == sorted(b)
            assert all(torch.equal(a[k], b[k]) for k in a), name
    assert _tensors(fast[1] / "last.ckpt")["global_step"] == steps
    # epochs ended whole: no checkpoint asks a resume to skip batches
    assert not any(FAST_LOOP_KEY in torch.load(p, weights_only=True) for p in fast[1].glob("*.ckpt"))


def test_train_loss_step_is_the_loss_of_that_step_whatever_log_freq(tmp_path: Path) -> None:
    every = _run(tmp_path / "every", "training.max_epochs=2", "logging.log_freq=1")[0]["train_loss_step"]
    third = _run(tmp_path / "third", "training.max_epochs=2", "logging.log_freq=3")[0]["train_loss_step"]
    assert [s for s, _ in every] == list(range(12)) and [s for s, _ in third] == [0, 3, 6, 9]
    assert third == [every[s] for s in (0, 3, 6, 9)]


def _weight_schedule(per_step: bool) -> str:
    return ("callbacks.loss_weight_schedulers=[{loss_name:cross_entropy,scheduler_type:linear,"
            f"params:{{min_weight:1.0,max_weight:2.0}},per_step:{str(per_step).lower()}}}]")


@pytest.mark.parametrize("overrides,loop", [
    (["training.accumulate_grad_batches=2"], "lightning: training.accumulate_grad_batches > 1"),
    (["callbacks.stateful_training.enable_for_training=true"],
     "lightning: callback StatefulTrainingCallback has per-batch hooks (on_train_batch_start, on_train_batch_end)"),
    ([_weight_schedule(per_step=True)],
     "lightning: callback LossWeightSchedulerCallback has per-batch hooks (on_train_batch_start)"),
    ([_weight_schedule(per_step=False)], "fast"),
], ids=["accumulate", "stateful", "per-step-weights", "per-epoch-weights"])
def test_a_run_trains_in_lightnings_loop_only_when_it_needs_per_batch_hooks(
    tmp_path: Path, overrides: List[str], loop: str
) -> None:
    scalars, _, result = _run(tmp_path, "training.max_epochs=2", *overrides)
    assert result["repeats"][0]["training_loop"] == loop
    assert len(scalars["val_loss"]) == 2


class _Pieces:
    """The runner's module, data, callbacks and trainer for one config (as soen-train builds them)."""

    def __init__(self, cfg, tmp: Path, extra_callbacks=(), max_steps: int = -1) -> None:
        pl.seed_everything(cfg.seed, verbose=False)
        paths = RunPaths.create(tmp / "runs", "p", "e", "g", 0)
        self.checkpoints = paths.checkpoints
        self.dm = build_datamodule(cfg, cfg.seed)
        self.module = build_module(cfg, build_model(None, False, None, cfg.model.architecture, seed=cfg.seed))
        callbacks, _, _ = build_callbacks(cfg, paths, self.module)
        self.trainer = build_trainer(cfg, paths, [*callbacks, *extra_callbacks], [])
        self.trainer.fit_loop.epoch_loop.max_steps = max_steps  # no config key sets it

    def fit(self, ckpt_path=None) -> Dict[str, torch.Tensor]:
        self.trainer.fit(self.module, datamodule=self.dm, ckpt_path=ckpt_path, weights_only=True)
        return {k: v.detach().clone() for k, v in self.module.state_dict().items()}


class SigtermAtStep(pl.Callback):
    """Sends this process a real SIGTERM just before optimiser step ``step``."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGTERM)


def test_sigterm_mid_epoch_then_resume_ends_with_the_weights_of_an_unbroken_run(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, "training.max_epochs=3")
    unbroken = _Pieces(cfg, tmp_path / "a").fit()

    stopped = _Pieces(cfg, tmp_path / "b", [SigtermAtStep(8)])  # epoch 1, its third batch
    with pytest.raises(SIGTERMException):
        stopped.fit()
    assert stopped.module.training_loop == "fast"
    saved = torch.load(stopped.checkpoints / "last.ckpt", map_location="cpu", weights_only=True)
    assert saved["global_step"] == 9 and saved["epoch"] == 1
    assert saved[FAST_LOOP_KEY] == {"epoch": 1, "steps_done": 3}

    resumed = _Pieces(cfg, tmp_path / "c").fit(ckpt_path=stopped.checkpoints / "last.ckpt")
    assert resumed.keys() == unbroken.keys()
    assert all(torch.equal(resumed[k], unbroken[k]) for k in unbroken)


def test_a_lightning_loop_checkpoint_resumes_in_the_fast_loop_at_its_step(tmp_path: Path) -> None:
    unbroken = _Pieces(_cfg(tmp_path, "training.max_epochs=3"), tmp_path / "a").fit()
    first = _Pieces(_cfg(tmp_path, "training.max_epochs=1", "training.fast_loop=false"), tmp_path / "b")
    first.fit()
    assert first.module.training_loop == "lightning: training.fast_loop is false"
    rest = _Pieces(_cfg(tmp_path, "training.max_epochs=3"), tmp_path / "c")
    final = rest.fit(ckpt_path=first.checkpoints / "last.ckpt")
    assert rest.module.training_loop == "fast" and rest.trainer.global_step == 18
    assert all(torch.equal(final[k], unbroken[k]) for k in unbroken)


def test_max_steps_ends_the_fast_loop_inside_an_epoch_where_lightnings_loop_ends(tmp_path: Path) -> None:
    fast = _Pieces(_cfg(tmp_path, "training.max_epochs=3"), tmp_path / "a", max_steps=8)
    slow = _Pieces(_cfg(tmp_path, "training.max_epochs=3", "training.fast_loop=false"), tmp_path / "b",
                   max_steps=8)
    a, b = fast.fit(), slow.fit()
    assert fast.module.training_loop == "fast"
    assert fast.trainer.global_step == slow.trainer.global_step == 8
    assert fast.trainer.current_epoch == slow.trainer.current_epoch
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_batch_transfer_hooks_run_per_batch_in_the_fast_loop(tmp_path: Path) -> None:
    class DoubledInputs(SOENLightningModule):
        def on_after_batch_transfer(self, batch, dataloader_idx):
            x, y = batch
            return 2.0 * x, y

    runs = {}
    for name, overrides in (("fast", []), ("lightning", ["training.fast_loop=false"])):
        pieces = _Pieces(_cfg(tmp_path, "training.max_epochs=2", *overrides), tmp_path / name)
        pieces.module.__class__ = DoubledInputs
        runs[name] = (pieces.fit(), pieces.module.training_loop)
    plain = _Pieces(_cfg(tmp_path, "training.max_epochs=2"), tmp_path / "plain").fit()
    assert runs["fast"][1] == "fast" and runs["lightning"][1].startswith("lightning")
    assert all(torch.equal(runs["fast"][0][k], runs["lightning"][0][k]) for k in plain)
    assert not all(torch.equal(runs["fast"][0][k], plain[k]) for k in plain)  # the hook ran
