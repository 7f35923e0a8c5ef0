"""`soen-train --from-file` runs a training YAML of the original toolkit that uses every key of
the guide's YAML blocks; each section's effect is read back from the files the run writes."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

STEPS_PER_EPOCH = 4 * 2  # 64 samples / batch 16 = 4 batches; 24 steps / tbptt 12 = 2 chunks each


def _scalars(logs: Path) -> dict:
    acc = EventAccumulator(str(logs), size_guidance={"scalars": 0, "histograms": 0})
    acc.Reload()
    tags = acc.Tags()
    out = {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in tags["scalars"]}
    out["_histograms"] = tags["histograms"]
    return out


def _job_config(job_dir: Path):
    from soen_train.config.schema import SOENTrainConfig

    saved = OmegaConf.load(job_dir / ".hydra" / "config.yaml")
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(SOENTrainConfig), saved))


def _val_cross_entropy(cfg, state_dict, qat: bool) -> float:
    """Mean validation cross entropy of the saved weights, recomputed outside the run."""
    from soen_train.training.callbacks.qat import QATStraightThroughCallback
    from soen_train.training.model_factory import build_model
    from soen_train.training.runner import build_datamodule, build_module

    dm = build_datamodule(cfg, cfg.seed)
    dm.setup("fit")
    model = build_model(None, False, cfg.model.architecture_yaml, None, seed=cfg.seed, dt=cfg.model.dt)
    module = build_module(cfg, model, dm.seq_len)
    module.load_state_dict(state_dict)
    module.eval()
    if qat:
        q = cfg.callbacks.qat
        QATStraightThroughCallback(bits=q.bits, min_val=q.min_val, max_val=q.max_val).attach(module.model)
    values, sizes = [], []
    with torch.no_grad():
        for batch in dm.val_dataloader():
            _, terms, _ = module._step(batch, "val")
            values.append(float(terms["cross_entropy"]))
            sizes.append(batch[0].shape[0])
    return sum(v * n for v, n in zip(values, sizes)) / sum(sizes)


def test_guide_config_runs_with_one_command(project, monkeypatch):
    out = project.run("--from-file", "training_config.yaml", "logging.progress_bar=false")
    report = out.stderr
    assert "Warning" not in report, report
    assert "training.optimizer.lr" in report and "-> training.lr" in report  # one renamed key

    # logging: names and folders of the guide's layout
    group = project.group_dir
    logs, ckpts = group / "logs" / "repeat_0", group / "checkpoints" / "repeat_0"
    assert logs.is_dir() and ckpts.is_dir()
    tb = _scalars(logs)
    # profiler: the simple profiler's report in the repeat's log folder, under output_filename
    profile = logs / "fit-profile_results.txt"
    assert profile.is_file() and "Profiler Report" in profile.read_text()

    # epochs, batch size and TBPTT chunks: 2 epochs x 4 batches x 2 chunks optimiser steps
    last = torch.load(ckpts / "last.ckpt", weights_only=False, map_location="cpu")
    assert last["epoch"] == 1 and last["global_step"] == 2 * STEPS_PER_EPOCH
    assert [s for s, _ in tb["val_loss"]] == [3, 7]  # epoch-end values at the last batch index

    # optimiser and its kwargs (AdamW: decoupled weight decay), construction lr 0.002
    group0 = last["optimizer_states"][0]["param_groups"][0]
    assert group0["weight_decay"] == pytest.approx(3e-4) and group0["decoupled_weight_decay"] is True
    assert group0["initial_lr"] == pytest.approx(0.002)

    # early stopping on val_loss with the configured patience
    stopper = next(v for k, v in last["callbacks"].items() if k.startswith("EarlyStopping"))
    assert stopper["patience"] == 1

    # LR schedule: one warm-up epoch from min_lr to max_lr, then a 50-epoch cosine
    lr = dict(tb["lr"])
    lo, hi = 1e-6, 1e-3
    for step in range(STEPS_PER_EPOCH):
        assert lr[step] == pytest.approx(lo + (hi - lo) * step / STEPS_PER_EPOCH, rel=1e-6)
    for step in range(STEPS_PER_EPOCH, 2 * STEPS_PER_EPOCH):
        p = (step - STEPS_PER_EPOCH) / (50 * STEPS_PER_EPOCH)
        assert lr[step] == pytest.approx(lo + (hi - lo) * (1 + math.cos(math.pi * p)) / 2, rel=1e-6)

    # noise annealer and loss-weight schedule: linear in the optimiser step over epochs 0..1
    # (the last step of epoch 1 is step 15); both are set before each batch of 2 chunks
    span = 2 * STEPS_PER_EPOCH - 1
    noise = [v for _, v in tb["callbacks/noise/bias_current_perturb"]]
    weight = [v for _, v in tb["callbacks/loss_weight_reg_J_loss"]]
    assert len(noise) == len(weight) == 8
    for batch, (n, w) in enumerate(zip(noise, weight)):
        p = min(1.0, 2 * batch / span)
        assert n == pytest.approx(0.1 * (1 - p), abs=1e-6)
        assert w == pytest.approx(0.01 + 0.09 * p, rel=1e-5)

    # losses and their weights: each term logged; the total is ce + w * reg_J
    (_, total), (_, ce), (_, reg) = tb["val_loss"][-1], tb["val_loss/cross_entropy"][-1], tb["val_loss/reg_J_loss"][-1]
    assert total == pytest.approx(ce + weight[-1] * reg, rel=1e-4)

    # track_connections / track_layer_params
    assert any(t.startswith("connection_stats/") for t in tb)
    assert tb["_histograms"], "layer parameter histograms expected"

    # pooling (max, scale 2), data scaling and QAT: the logged validation cross entropy is
    # that of the saved weights snapped to the 4-bit codebook, pooled with max x 2
    job_dir = next((project.root / "outputs").glob("*/*"))
    cfg = _job_config(job_dir)
    assert cfg.model.time_pooling.name == "max" and cfg.model.time_pooling.params["scale"] == 2.0
    assert cfg.callbacks.stateful_training.enable_for_training is True
    monkeypatch.chdir(project.root)
    snapped = _val_cross_entropy(cfg, last["state_dict"], qat=True)
    assert snapped == pytest.approx(ce, rel=1e-6)
    assert _val_cross_entropy(cfg, last["state_dict"], qat=False) != pytest.approx(ce, rel=1e-6)
    cfg.model.time_pooling.params["scale"] = 1.0
    assert _val_cross_entropy(cfg, last["state_dict"], qat=True) != pytest.approx(ce, rel=1e-6)


def test_misspelled_key_fails_in_one_line_naming_the_closest_key(project):
    def typo(doc):
        doc["training"]["max_epoch"] = doc["training"].pop("max_epochs")

    project.edited(typo, "typo.yaml")
    out = project.run("--from-file", "typo.yaml", expect_rc=2)
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), out.stderr
    assert "'training.max_epoch'" in lines[0] and "did you mean 'training.max_epochs'" in lines[0]
    assert not (project.root / "experiments").exists()


def test_key_the_original_ignored_runs_with_one_warning(project):
    def dead(doc):
        doc["data"]["sequence_length"] = 100  # read but never used by the original

    project.edited(dead, "dead_key.yaml")
    out = project.run("--from-file", "dead_key.yaml", "training.max_epochs=1", "logging.progress_bar=false")
    warnings = [ln for ln in out.stderr.splitlines() if "Warning" in ln]
    assert len(warnings) == 1 and "data.sequence_length" in warnings[0], out.stderr
    last = torch.load(project.group_dir / "checkpoints/repeat_0/last.ckpt", weights_only=False)
    assert last["epoch"] == 0  # the override on top of the file took effect


def test_multirun_sweep_on_top_of_the_file(project):
    project.run(
        "--from-file", "training_config.yaml", "-m", "training.batch_size=16,32",
        "training.max_epochs=1", "profiler.active=false", "logging.progress_bar=false",
    )
    results = sorted((project.root / "multirun").glob("*/*/*/soen_result.json"))
    assert len(results) == 2
    steps = []
    for repeat in ("repeat_0", "repeat_0_1"):
        ckpt = torch.load(project.group_dir / "checkpoints" / repeat / "last.ckpt", weights_only=False)
        steps.append(ckpt["global_step"])
    assert sorted(steps) == [2 * 2, 4 * 2]  # 2 or 4 batches of 2 TBPTT chunks


def test_save_experiment_writes_a_config_the_printed_command_runs(project):
    out = project.run("--from-file", "training_config.yaml", "--save-experiment", "guide_run", "--config-dir", "myconf")
    saved = project.root / "myconf" / "experiment" / "guide_run.yaml"
    assert saved.read_text().startswith("# @package _global_")
    command = [ln.strip() for ln in out.stdout.splitlines() if ln.strip().startswith("soen-train ")]
    assert command == ["soen-train --config-dir myconf +experiment=guide_run"]
    shown = project.run(*command[0].split()[1:], "--cfg", "job")
    job = OmegaConf.create(shown.stdout)
    assert job.training.lr == 0.002 and job.training.optimizer.kwargs.weight_decay == 0.0003
    assert job.callbacks.lr_scheduler.type == "cosine" and job.callbacks.lr_scheduler.warmup_epochs == 1
    assert job.logging.mlflow_active is False and not (project.root / "experiments").exists()
