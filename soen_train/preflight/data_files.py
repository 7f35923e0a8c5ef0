"""The data file's layout and labels, and the sequence length, checked before any setup."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from soen_train.config.errors import ConfigError
from soen_train.config.schema import SOENTrainConfig


def _check_tbptt(cfg: SOENTrainConfig, seq_len: Optional[int], source: str) -> None:
    t = cfg.training
    if not t.use_tbptt or seq_len is None or cfg.callbacks.seq_len_scheduler.active:
        return
    if t.tbptt_steps is not None and t.tbptt_steps > seq_len:
        raise ConfigError(
            f"training.tbptt_steps={t.tbptt_steps} is longer than the sequences ({seq_len} steps, "
            f"{source}); use training.tbptt_steps <= {seq_len}"
        )


def check_data(cfg: SOENTrainConfig) -> None:
    """Labels (kinds, classes, class count) of a user's HDF5 file, and TBPTT against its length.

    Built-in datasets (``data.dataset``) are written by their makers and only their sequence
    length is checked; distillation targets are made from the teacher later.
    """
    d, t = cfg.data, cfg.training
    if d.target_seq_len is not None:
        _check_tbptt(cfg, d.target_seq_len, "data.target_seq_len")
    if d.dataset:
        seq_len = d.dataset_params.get("seq_len") if isinstance(d.dataset_params, dict) else None
        if isinstance(seq_len, int) and d.target_seq_len is None:
            _check_tbptt(cfg, seq_len, "data.dataset_params.seq_len")
        return
    if not d.data_path or t.paradigm == "distillation":
        return
    path = Path(d.data_path)
    if not path.is_file():
        what = "is a folder, not an HDF5 file" if path.is_dir() else "file not found"
        raise ConfigError(f"data.data_path: {what}: {path}")
    from soen_train.data.inspection import inspect_labels
    from soen_train.data.labels import CLASS_LABEL_LOSSES
    from soen_train.data.options import DataOptions

    options = DataOptions(
        data_path=str(path), batch_size=t.batch_size, cache_data=d.cache_data,
        target_seq_len=d.target_seq_len, min_scale=d.min_scale, max_scale=d.max_scale,
        input_encoding=d.input_encoding, vocab_size=d.vocab_size, num_classes=d.num_classes,
        val_split=d.val_split, test_split=d.test_split, split_seed=d.split_seed,
        num_workers=t.num_workers, mapping=t.mapping, paradigm=t.paradigm,
    )
    class_losses = tuple(dict.fromkeys(
        str(item.name) for item in t.loss.losses if str(item.name) in CLASS_LABEL_LOSSES
    ))
    summary = inspect_labels(path, options, d.target_seq_len, class_losses)
    if d.target_seq_len is None:
        _check_tbptt(cfg, summary.seq_len, f"{path}")
