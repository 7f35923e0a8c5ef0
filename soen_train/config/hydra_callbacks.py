"""Hydra callbacks of `soen-train` (listed under `hydra.callbacks` in conf/train.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig


class SweepReport(Callback):
    """After every multirun: the best job, its objective, folder and the command re-running it."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from soen_train.tracking.sweep_report import format_sweep_report

        print(format_sweep_report(Path(config.hydra.sweep.dir)), flush=True)
