"""Associative (parallel) scan for linear recurrences s_{t+1} = a_t * s_t + b_t.

Used by the ``PS`` solver: when a layer's update is linear in its own state (no internal
connection, a source function of phi only) the whole sequence is solved in log2(T) vector
passes instead of T sequential steps. Pairs compose as (a2, b2) o (a1, b1) =
(a2*a1, a2*b1 + b2); the doubling (Hillis-Steele) form keeps every pass out of place so
autograd differentiates it directly, and it never divides by cumulative products (stable
even when a_t**T underflows). Tensors are time-major: [T, B, D].
"""

from __future__ import annotations

import torch
from torch import Tensor


def linear_scan(a: Tensor, b: Tensor, s0: Tensor) -> Tensor:
    """History [T+1, B, D] of s_{t+1} = a_t * s_t + b_t from s_0 [B, D] (``a`` broadcasts)."""
    if b.dim() != 3:
        raise ValueError(f"linear_scan: b must be [T, B, D], got {tuple(b.shape)}")
    steps = b.shape[0]
    if steps == 0:
        return s0.unsqueeze(0)
    a = a.expand_as(b)
    first = torch.addcmul(b[:1], a[:1], s0.unsqueeze(0))
    acc_b = torch.cat([first, b[1:]], dim=0)
    acc_a = a
    offset = 1
    while offset < steps:
        acc_b = torch.cat([acc_b[:offset], torch.addcmul(acc_b[offset:], acc_a[offset:], acc_b[:-offset])], dim=0)
        acc_a = torch.cat([acc_a[:offset], acc_a[offset:] * acc_a[:-offset]], dim=0)
        offset *= 2
    return torch.cat([s0.unsqueeze(0), acc_b], dim=0)
