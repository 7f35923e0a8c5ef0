"""Run-time noise and perturbation for one layer or connection during one forward pass.

- ``noise``: a fresh Gaussian sample at every time step (std per key; with ``relative``
  the std scales with the magnitude of the noisy quantity).
- ``perturb``: a Gaussian offset (mean, std) drawn once per forward pass, one value per
  sample and node, held fixed over time.

Both act only while the model is training; in eval mode a ``NoiseRuntime`` is inert.
Samples come from the global torch RNG, so a trainer's seed makes them reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .spec_types import NoiseSpec, PerturbSpec


class NoiseRuntime:
    """Noise/perturbation of one layer for one forward pass (offsets drawn at creation)."""

    _INACTIVE: NoiseRuntime | None = None

    def __init__(self, noise: NoiseSpec, perturb: PerturbSpec, *, batch: int, dim: int,
                 device: torch.device, dtype: torch.dtype, active: bool) -> None:
        self.noise = noise
        self.active = bool(active)
        self._batch, self._dim = batch, dim
        self._offsets: dict[str, Tensor] = {}
        if self.active and perturb.is_active():
            for key in perturb.active_keys():
                mean, std = perturb.mean(key), perturb.std(key)
                if key == "j":
                    continue  # weight offsets are drawn by the connection that owns J
                offset = torch.full((batch, dim), mean, device=device, dtype=dtype)
                if std != 0.0:
                    offset = offset + std * torch.randn(batch, dim, device=device, dtype=dtype)
                self._offsets[key] = offset

    @classmethod
    def inactive(cls) -> NoiseRuntime:
        """A runtime that never changes anything (eval mode, or nothing configured); one shared
        instance, since an inactive runtime holds no draws."""
        if cls._INACTIVE is None:
            cls._INACTIVE = cls(NoiseSpec(), PerturbSpec(), batch=0, dim=0, device=torch.device("cpu"),
                                dtype=torch.float32, active=False)
        return cls._INACTIVE

    def offset(self, key: str) -> Tensor | None:
        """The per-forward offset [B, D] of ``key`` (None when not perturbed)."""
        return self._offsets.get(key)

    def step_std(self, key: str) -> float:
        """Per-step noise std of ``key`` (0 when inactive)."""
        return self.noise.std(key) if self.active else 0.0

    def has_step_noise(self, key: str) -> bool:
        """True when ``key`` receives fresh noise every step."""
        return self.step_std(key) != 0.0

    @property
    def relative(self) -> bool:
        """True when per-step noise std scales with |value|."""
        return bool(self.noise.relative)

    def any_step_noise(self, keys: Sequence[str]) -> bool:
        """True when any of ``keys`` receives per-step noise."""
        return any(self.has_step_noise(k) for k in keys)

    def perturbed(self, key: str, value: Tensor) -> Tensor:
        """``value`` plus this forward's offset [B, D] for ``key`` (broadcasts over [T, B, D])."""
        offset = self._offsets.get(key)
        return value if offset is None else value + offset

    def step_sample(self, key: str, like: Tensor) -> Tensor | None:
        """A fresh noise sample shaped like ``like`` (None when ``key`` has no step noise)."""
        std = self.step_std(key)
        if std == 0.0:
            return None
        sample = torch.randn_like(like) * std
        if self.noise.relative:
            sample = sample * like.detach().abs()
        return sample

    def apply_step(self, key: str, value: Tensor) -> Tensor:
        """``value`` + offset + fresh per-step noise for ``key``."""
        value = self.perturbed(key, value)
        sample = self.step_sample(key, value)
        return value if sample is None else value + sample


def weight_offset(perturb: PerturbSpec, shape: torch.Size, device: torch.device,
                  dtype: torch.dtype) -> Tensor | None:
    """One draw of the ``j`` perturbation for a weight matrix (None when not configured).

    Args:
        perturb: the connection's perturbation spec (``j_mean``/``j_std``).
        shape: the weight matrix shape [n_to, n_from].
        device: device of the weights.
        dtype: dtype of the weights.
    """
    mean, std = perturb.mean("j"), perturb.std("j")
    if mean == 0.0 and std == 0.0:
        return None
    offset = torch.full(shape, mean, device=device, dtype=dtype)
    if std != 0.0:
        offset = offset + std * torch.randn(shape, device=device, dtype=dtype)
    return offset
