"""The data module of a repeat: a built-in dataset generated first, a distillation run's teacher file.

Plain Python + Lightning data (no Hydra); the runner and ``evaluation`` call ``build_datamodule``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from soen_train.config.schema import SOENTrainConfig


def _teacher_data(cfg: SOENTrainConfig, data_path: str, logs_dir: Path) -> str:
    """The cached teacher-trajectory file of a distillation run (written on first use)."""
    from soen_train.training.distillation import generate_teacher_trajectories

    d, dist = cfg.data, cfg.training.distillation
    out = Path(dist.distillation_data_path or logs_dir / "distillation_data.h5")
    return str(generate_teacher_trajectories(
        dist.teacher_model_path, data_path, out, batch_size=dist.batch_size,
        target_seq_len=d.target_seq_len, min_scale=d.min_scale, max_scale=d.max_scale,
        input_encoding=d.input_encoding, vocab_size=d.vocab_size, val_split=d.val_split,
        test_split=d.test_split, split_seed=d.split_seed, max_samples=dist.max_samples,
    ))


def build_datamodule(cfg: SOENTrainConfig, seed: int, logs_dir: Optional[Path] = None) -> Any:
    """The data module of a repeat; a built-in dataset is generated first if asked for.

    For distillation the inputs are replaced by the teacher file, already prepared (resampled,
    scaled, encoded), so those options are not applied twice.
    """
    from soen_train.data import SOENDataModule
    from soen_train.data.makers import build_dataset, dataset_output_path

    d, t = cfg.data, cfg.training
    path = d.data_path
    if d.dataset:
        target = dataset_output_path(d.dataset, path)
        path = str(build_dataset(d.dataset, target, **dict(d.dataset_params)))
    if t.paradigm == "distillation":
        path = _teacher_data(cfg, path, logs_dir or Path("."))
        return SOENDataModule(data_path=path, batch_size=t.batch_size, cache_data=d.cache_data,
                              num_workers=t.num_workers, mapping=t.mapping, paradigm=t.paradigm,
                              shuffle_seed=seed)
    return SOENDataModule(
        data_path=path,
        batch_size=t.batch_size,
        cache_data=d.cache_data,
        target_seq_len=d.target_seq_len,
        min_scale=d.min_scale,
        max_scale=d.max_scale,
        input_encoding=d.input_encoding,
        vocab_size=d.vocab_size,
        num_classes=d.num_classes,
        val_split=d.val_split,
        test_split=d.test_split,
        split_seed=d.split_seed,
        num_workers=t.num_workers,
        mapping=t.mapping,
        paradigm=t.paradigm,
        shuffle_seed=seed,
    )
