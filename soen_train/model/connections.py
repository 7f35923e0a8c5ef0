"""One weighted connection J [to, from] between two layers (or inside one layer).

The trainable tensor is ``weight``; the 0/1 ``mask`` decides which entries exist. The
simulator always uses ``weight * mask`` so masked entries contribute nothing and receive
zero gradient; ``enforce_constraints`` also rewrites them to exactly zero and clamps the
rest to the configured [min, max] and to the sign allowed by the source layer's polarity.

A dynamic connection (``mode`` WICC or NOCC) uses the same weight as the programmed flux
phi_y of a multiplier circuit on every existing entry (``dynamic_edges``); its edge list
and per-destination fan-in come from the mask and are rebuilt only when the mask changes.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from .connection_patterns import build_mask
from .dynamic_edges import EdgeIndex, EdgeRunner, EdgeSettings, edge_settings
from .noise import weight_offset
from .spec_types import ConnectionSpec
from .validation import ArchitectureError
from .weight_inits import init_weights

WeightTransform = Callable[[Tensor], Tensor]


class Connection(nn.Module):
    """Weights, mask, constraints, noise and optional forward transform of one connection."""

    def __init__(self, spec: ConnectionSpec, n_from: int, n_to: int, *,
                 generator: torch.Generator | None, materialize: bool,
                 source_polarity: list[int] | None = None) -> None:
        super().__init__()
        self.spec = spec
        self.n_from, self.n_to = int(n_from), int(n_to)
        where = f"connection {spec.from_layer}->{spec.to_layer}"
        self.edge_settings: EdgeSettings | None = None
        if spec.is_dynamic:
            self.edge_settings = edge_settings(spec.mode, spec.connection_params,
                                               f"{where}.connection_params", warn=False)
            j_out = self.edge_settings.j_out
            if isinstance(j_out, tuple) and len(j_out) != self.n_to:
                raise ArchitectureError(
                    f"{where}.connection_params.j_out: {len(j_out)} values given, but layer "
                    f"{spec.to_layer} has {self.n_to} nodes (give one value or one per node)")
            if source_polarity is not None:
                raise ArchitectureError(
                    f"{where}: mode {spec.mode} cannot be combined with the polarity of source layer "
                    f"{spec.from_layer}; use mode: fixed or remove the layer's polarity")
        self._edge_cache: tuple[tuple[int, int, str], EdgeIndex] | None = None
        if materialize:
            mask = build_mask(spec.pattern, n_from, n_to, spec.pattern_params,
                              allow_self=spec.allow_self_connections, generator=generator)
            weight = init_weights(spec.init, mask, spec.init_params, generator)
        else:
            mask = torch.ones(n_to, n_from)
            weight = torch.zeros(n_to, n_from)
        lower = torch.full((n_to, n_from), -float("inf"))
        upper = torch.full((n_to, n_from), float("inf"))
        if spec.minimum is not None:
            lower.fill_(spec.minimum)
        if spec.maximum is not None:
            upper.fill_(spec.maximum)
        if source_polarity is not None:
            signs = torch.tensor(source_polarity, dtype=torch.float32).view(1, -1).expand(n_to, -1)
            weight = torch.where(signs > 0, weight.abs(), torch.where(signs < 0, -weight.abs(), weight))
            lower = torch.where(signs > 0, lower.clamp(min=0.0), lower)
            upper = torch.where(signs < 0, upper.clamp(max=0.0), upper)
        self.weight = nn.Parameter(weight * mask, requires_grad=spec.learnable)
        self.register_buffer("mask", mask)
        self.register_buffer("lower", lower, persistent=False)
        self.register_buffer("upper", upper, persistent=False)
        self.transform: WeightTransform | None = None
        self.extra_noise_std = 0.0
        self.extra_noise_relative = False
        if materialize:
            self.enforce_constraints()

    @property
    def name(self) -> str:
        """``<from>_to_<to>``."""
        return self.spec.name

    @property
    def is_internal(self) -> bool:
        """True for a layer's connection to itself."""
        return self.spec.from_layer == self.spec.to_layer

    @property
    def is_dynamic(self) -> bool:
        """True for a WICC / NOCC connection (edge states integrated in time)."""
        return self.edge_settings is not None

    def edge_index(self) -> EdgeIndex:
        """Edges (nonzero mask entries, destination-major) and per-destination edge counts."""
        key = (self.mask.data_ptr(), self.mask._version, str(self.mask.device))
        if self._edge_cache is None or self._edge_cache[0] != key:
            self._edge_cache = (key, EdgeIndex.from_mask(self.mask.detach()))
        return self._edge_cache[1]

    def edge_runner(self, batch: int, dt: Tensor, ref: Tensor) -> EdgeRunner:
        """Fresh (zero) edge states for one forward pass of a dynamic connection.

        Args:
            batch: sequences in the batch.
            dt: the simulation step (dimensionless, units of 1/omega_c), a 0-dim tensor.
            ref: a tensor whose dtype and device the states take.
        """
        if self.edge_settings is None:
            raise ValueError(f"connection {self.name} is fixed; it has no edge states")
        return EdgeRunner(self.edge_settings, self.edge_index(), batch=batch, dt=dt, ref=ref)

    def masked_weight(self) -> Tensor:
        """weight * mask (gradients flow to the existing entries only)."""
        return self.weight * self.mask

    def forward_weight(self, training: bool) -> Tensor:
        """The J used for one forward pass: masked, transformed, plus this pass's offsets."""
        weight = self.masked_weight()
        if self.transform is not None:
            weight = self.transform(weight) * self.mask
        if not training:
            return weight
        offset = weight_offset(self.spec.perturb, weight.shape, weight.device, weight.dtype)
        if self.extra_noise_std != 0.0:
            std = self.extra_noise_std
            if self.extra_noise_relative:
                existing = self.mask.sum().clamp_min(1.0)
                std = std * float((weight.detach().abs().sum() / existing).item())
            draw = std * torch.randn_like(weight)
            offset = draw if offset is None else offset + draw
        if offset is None:
            return weight
        return weight + offset * self.mask

    def step_noise_std(self, training: bool) -> float:
        """Std of fresh per-step noise on J (the connection's ``noise.j``; 0 in eval)."""
        return float(self.spec.noise.j) if training else 0.0

    def step_weight(self, base: Tensor, training: bool) -> Tensor:
        """``base`` plus a fresh per-step noise sample on the existing entries."""
        std = self.step_noise_std(training)
        if std == 0.0:
            return base
        sample = torch.randn_like(base) * std
        if self.spec.noise.relative:
            sample = sample * base.detach().abs()
        return base + sample * self.mask

    @torch.no_grad()
    def enforce_constraints(self) -> None:
        """Clamp to [min, max] and polarity, and zero the masked entries, in place."""
        clamped = torch.maximum(torch.minimum(self.weight, self.upper), self.lower)
        self.weight.copy_(clamped * self.mask)
