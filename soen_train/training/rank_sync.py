"""Combine what each DDP process saw of an epoch into the numbers of the whole split.

Under DDP every process evaluates its own block of samples (soen_train/data/sampling.py); the
blocks differ in size by up to one sample, and a process may have none at all. Tensor
collectives (`all_gather`) need equal shapes on every process, so the pieces travel as Python
objects (`all_gather_object`, over gloo or NCCL): per-tag (sum, count) pairs for the epoch means
and the CPU outputs/targets for the metrics. Without an initialised process group (one process)
the functions return their input combined as is.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import torch
import torch.distributed as dist
from torch import Tensor

#: tag -> (sum of value x batch size, number of samples)
Sums = Dict[str, Tuple[float, int]]


def _all_objects(obj: object) -> List[object]:
    """``obj`` from every process, in rank order ([obj] without a process group)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return [obj]
    gathered: List[object] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def global_means(sums: Sums) -> Dict[str, float]:
    """Sample-weighted means over all processes: sum of sums / sum of counts, per tag.

    Every process must call this (a process that saw no batch passes ``{}``); tags any process
    has are in the result."""
    total: Dict[str, List[float]] = {}
    for part in _all_objects({tag: (float(s), int(n)) for tag, (s, n) in sums.items()}):
        assert isinstance(part, dict)
        for tag, (s, n) in part.items():
            acc = total.setdefault(tag, [0.0, 0])
            acc[0] += s
            acc[1] += n
    return {tag: s / n for tag, (s, n) in sorted(total.items()) if n > 0}


def gather_samples(
    outputs: Optional[Tensor], targets: Optional[Tensor]
) -> Tuple[Optional[Tensor], Optional[Tensor]]:
    """The outputs and targets of all processes, concatenated in rank order (on the CPU).

    Every process must call this; one with no samples passes None for both."""
    pieces = _all_objects(
        None if outputs is None or targets is None else (outputs.cpu(), targets.cpu())
    )
    present = [p for p in pieces if p is not None]
    if not present:
        return None, None
    return torch.cat([p[0] for p in present]), torch.cat([p[1] for p in present])
