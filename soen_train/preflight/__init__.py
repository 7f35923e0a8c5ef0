"""Pre-flight: every check that can be made before training, in one pass, before any setup.

Runs after the config is composed and validated and before Hydra creates a run folder or
torch/Lightning are imported: output folders, the machine (accelerator, precision), model
files (checkpoint, ``.soen``, architecture YAML) and the data file's labels. Each problem is
a ``SOENError`` whose one-line message names the key, file or value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Set

from soen_train.config.schema import SOENTrainConfig
from soen_train.preflight.data_files import check_data
from soen_train.preflight.folders import check_writable_folder
from soen_train.preflight.machine import check_machine
from soen_train.preflight.model_files import check_model_files
from soen_train.preflight.yaml_files import check_config_folder, load_yaml_strict

__all__ = ["check_config_folder", "load_yaml_strict", "preflight"]


def preflight(
    cfg: SOENTrainConfig,
    output_dir: Optional[str] = None,
    output_key: str = "hydra.run.dir",
    seen: Optional[Set[str]] = None,
) -> None:
    """Raise the first problem found; ``output_dir`` is the run (or sweep) folder Hydra will make.

    ``seen``: for the jobs of one sweep, the file checks already made (each file is read once).
    """
    seen = set() if seen is None else seen
    check_writable_folder(output_dir, output_key)
    check_writable_folder(cfg.logging.project_dir, "logging.project_dir")
    d = cfg.data
    if d.dataset and d.data_path and not Path(d.data_path).exists():
        check_writable_folder(str(Path(d.data_path).parent), "data.data_path")
    check_machine(cfg)
    t = cfg.training
    files = repr((t.train_from_checkpoint, t.backend, cfg.model, t.paradigm, t.distillation))
    if files not in seen:
        check_model_files(cfg)
        seen.add(files)
    data = repr((d, t.mapping, t.paradigm, t.loss, t.use_tbptt, t.tbptt_steps, t.batch_size,
                 t.num_workers, cfg.callbacks.seq_len_scheduler.active))
    if data not in seen:
        check_data(cfg)
        seen.add(data)
