"""A tiny, real SOEN-like network with the simulator's public API, for catalog tests.

Layers: 0 Input (dim 2) -> 1 SingleDendrite (dim 3, internal 1_to_1) -> 2 SingleDendrite
(dim 2). Forward Euler: s_t = s_{t-1} + dt (g(phi_t) - gamma s_{t-1}), g = softplus(phi) - ln 2
clipped at 0, phi_t = sum of upstream s_t J^T (+ own s_{t-1} J_int^T) + phi_offset.
The real ``SOENModel`` has the same attributes: connection_weights, simulate, spec,
layer_ids, parameters_by_name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F


@dataclass
class TinySimulation:
    """Histories [B, T+1, D] per layer, and g / phi [B, T, D] when tracked."""

    states: dict[int, torch.Tensor]
    g: dict[int, torch.Tensor] = field(default_factory=dict)
    phi: dict[int, torch.Tensor] = field(default_factory=dict)

    @property
    def output(self) -> torch.Tensor:
        return self.states[max(self.states)]

    def final_states(self) -> dict[int, torch.Tensor]:
        return {lid: h[:, -1, :] for lid, h in self.states.items()}


class TinySOEN:
    """Three-layer stand-in with learnable J (0_to_1, 1_to_2) and a fixed internal J (1_to_1)."""

    def __init__(self, seed: int = 0, dt: float = 0.5, gamma: float = 0.3) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.dt, self.gamma = dt, gamma
        self.J = {
            "0_to_1": torch.nn.Parameter(torch.rand(3, 2, generator=gen) * 0.6 - 0.3),
            "1_to_1": torch.nn.Parameter(torch.rand(3, 3, generator=gen) * 0.2 - 0.1, requires_grad=False),
            "1_to_2": torch.nn.Parameter(torch.rand(2, 3, generator=gen) * 0.6 - 0.3),
        }
        self.phi_offset = {
            1: torch.nn.Parameter(torch.full((3,), 0.2)),
            2: torch.nn.Parameter(torch.full((2,), 0.1)),
        }
        self.layer_ids = [0, 1, 2]
        self.spec = {
            "layers": [
                {"layer_id": 0, "layer_type": "Input", "params": {"dim": 2}},
                {"layer_id": 1, "layer_type": "SingleDendrite", "params": {"dim": 3}},
                {"layer_id": 2, "layer_type": "SingleDendrite", "params": {"dim": 2}},
            ],
            "connections": [
                {"from_layer": 0, "to_layer": 1}, {"from_layer": 1, "to_layer": 1},
                {"from_layer": 1, "to_layer": 2},
            ],
        }
        self.training = True

    def connection_weights(self, learnable_only: bool = True) -> dict[str, torch.Tensor]:
        return {k: w for k, w in self.J.items() if w.requires_grad or not learnable_only}

    def parameters_by_name(self) -> dict[str, torch.Tensor]:
        out = {f"connections.{k}": w for k, w in self.J.items()}
        out.update({f"layers.{lid}.phi_offset": p for lid, p in self.phi_offset.items()})
        return out

    @staticmethod
    def source(phi: torch.Tensor) -> torch.Tensor:
        return torch.relu(F.softplus(phi) - math.log(2.0))

    def simulate(
        self, x: torch.Tensor, initial_states: dict[int, torch.Tensor] | None = None,
        track_phi: bool = False, track_g: bool = False,
    ) -> TinySimulation:
        b, t, _ = x.shape
        init = initial_states or {}
        s1 = init.get(1, x.new_zeros(b, 3)).expand(b, 3)
        s2 = init.get(2, x.new_zeros(b, 2)).expand(b, 2)
        h0 = [init.get(0, x.new_zeros(b, 2)).expand(b, 2)]
        h1, h2, g1, g2, p1, p2 = [s1], [s2], [], [], [], []
        for step in range(t):
            s0 = x[:, step]
            phi1 = s0 @ self.J["0_to_1"].T + s1 @ self.J["1_to_1"].T + self.phi_offset[1]
            a1 = self.source(phi1)
            s1 = s1 + self.dt * (a1 - self.gamma * s1)
            phi2 = s1 @ self.J["1_to_2"].T + self.phi_offset[2]
            a2 = self.source(phi2)
            s2 = s2 + self.dt * (a2 - self.gamma * s2)
            h0.append(s0), h1.append(s1), h2.append(s2)
            g1.append(a1), g2.append(a2), p1.append(phi1), p2.append(phi2)
        states = {0: torch.stack(h0, 1), 1: torch.stack(h1, 1), 2: torch.stack(h2, 1)}
        sim = TinySimulation(states=states)
        if track_g:
            sim.g = {1: torch.stack(g1, 1), 2: torch.stack(g2, 1)}
        if track_phi:
            sim.phi = {1: torch.stack(p1, 1), 2: torch.stack(p2, 1)}
        return sim
