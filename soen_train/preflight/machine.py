"""The accelerator and precision asked for, against this machine (no torch import).

A CUDA GPU shows as ``/dev/nvidia<N>`` device files on Linux; without them CUDA cannot start,
so ``accelerator=gpu`` would fail in Lightning after the data and model are built, and
``precision=16-mixed`` on a CPU would silently become ``bf16-mixed``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from soen_train.config.errors import ConfigError
from soen_train.config.schema import SOENTrainConfig

GPU_ACCELERATORS = ("gpu", "cuda")
GPU_ONLY_PRECISIONS = ("16-mixed", "16")


def cuda_device_visible() -> bool:
    """True when an NVIDIA device file exists and CUDA_VISIBLE_DEVICES does not hide them all."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return False
    return any(Path("/dev").glob("nvidia[0-9]*"))


def check_machine(cfg: SOENTrainConfig) -> None:
    """ConfigErrors for an accelerator this machine lacks and a GPU-only precision on a CPU."""
    t = cfg.training
    has_gpu = cuda_device_visible()
    if t.accelerator in GPU_ACCELERATORS and not has_gpu:
        raise ConfigError(
            f"training.accelerator={t.accelerator} but this machine has no visible NVIDIA GPU "
            "(no /dev/nvidia* device, or CUDA_VISIBLE_DEVICES hides them); use "
            "training.accelerator=cpu or auto"
        )
    if t.accelerator == "mps" and sys.platform != "darwin":
        raise ConfigError(
            "training.accelerator=mps needs an Apple-silicon Mac; use training.accelerator=cpu or auto"
        )
    on_cpu = t.accelerator == "cpu" or (t.accelerator == "auto" and not has_gpu)
    if on_cpu and str(t.precision) in GPU_ONLY_PRECISIONS:
        raise ConfigError(
            f"training.precision={t.precision} needs a CUDA GPU, and this job runs on the CPU "
            "(where it would silently become bf16-mixed); use training.precision=32-true or bf16-mixed"
        )
