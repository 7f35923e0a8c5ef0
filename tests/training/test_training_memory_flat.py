"""Training memory does not grow with the number of epochs: after 6 epochs of a tiny pulses
net the objects the module, trainer and callbacks keep (Python allocations and live tensors)
are no larger than after 2, and the module's per-epoch stores are empty."""

import gc
import tracemalloc
from pathlib import Path

import lightning.pytorch as pl
from hydra import compose, initialize_config_dir

from soen_train.config.conf_dir import CONF_DIR
from soen_train.config.loading import to_job_config
from soen_train.config.store import register_configs
from soen_train.training.datamodule_factory import build_datamodule
from soen_train.training.model_factory import build_model
from soen_train.training.run_paths import RunPaths
from soen_train.training.runner import build_module
from soen_train.training.trainer_factory import (
    build_callbacks,
    build_loggers,
    build_trainer,
    flat_hparams,
)

# a metrics-history row, checkpoint bookkeeping and timing noise of where a step stands (measured:
# ~3 KiB per epoch, none of it tensors); a leaked batch output per step shows as tensor bytes
PER_EPOCH_ALLOWANCE_KIB = 8.0


def _live_tensor_bytes() -> int:
    import torch

    storages = {}
    for obj in gc.get_objects():
        if torch.is_tensor(obj):
            storage = obj.untyped_storage()
            storages[storage.data_ptr()] = storage.nbytes()
    return sum(storages.values())


def _retained_after_training(tmp: Path, epochs: int) -> tuple:
    """(Python KiB, tensor KiB) still held after fit above the level before it, and the module."""
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = to_job_config(compose(config_name="train", overrides=[
            "+experiment=pulses", f"data.data_path={tmp / 'p.h5'}",
            "data.dataset_params.n_train=48", "data.dataset_params.n_val=16",
            "data.dataset_params.n_test=16", "data.dataset_params.seq_len=24",
            "training.batch_size=16", f"training.max_epochs={epochs}",
            f"logging.project_dir={tmp / 'runs'}", "logger=tensorboard",
            "logging.progress_bar=false", "logging.metrics=[accuracy]",
        ]))
    pl.seed_everything(cfg.seed, verbose=False)
    paths = RunPaths.create(cfg.logging.project_dir, "mem", "flat", "g", 0)
    dm = build_datamodule(cfg, cfg.seed)
    dm.setup("fit")
    module = build_module(cfg, build_model(None, False, None, cfg.model.architecture, seed=cfg.seed))
    callbacks, _, _ = build_callbacks(cfg, paths, module)
    trainer = build_trainer(cfg, paths, callbacks, build_loggers(cfg, paths, cfg.seed, None, flat_hparams(cfg)))
    gc.collect()
    tensors = _live_tensor_bytes()
    tracemalloc.start()
    try:
        python = tracemalloc.get_traced_memory()[0]
        trainer.fit(module, datamodule=dm)
        gc.collect()
        python = tracemalloc.get_traced_memory()[0] - python
    finally:
        tracemalloc.stop()
    tensors = _live_tensor_bytes() - tensors
    return python / 1024, tensors / 1024, module, trainer


def test_six_epochs_retain_no_more_than_two(tmp_path):
    _retained_after_training(tmp_path / "warm", 1)  # lazy imports and caches fill here
    python_2, tensors_2, _, _ = _retained_after_training(tmp_path / "two", 2)
    python_6, tensors_6, module, trainer = _retained_after_training(tmp_path / "six", 6)
    assert trainer.current_epoch == 6
    print(f"retained python KiB {python_2:.1f} -> {python_6:.1f}, tensors {tensors_2:.1f} -> {tensors_6:.1f}")
    assert python_6 - python_2 <= 4 * PER_EPOCH_ALLOWANCE_KIB, (python_2, python_6)
    assert tensors_6 - tensors_2 <= 1.0, (tensors_2, tensors_6)  # not one batch more
    assert not module._epoch_outputs and not module._epoch_targets and not module._epoch_sums
