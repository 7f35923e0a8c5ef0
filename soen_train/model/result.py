"""What one simulation returns: every layer's state history plus optional tracked signals.

The simulator works time-major ([T, B, D]); this object hands histories out batch-major
([B, T+1, D] for states, [B, T, D] for phi and g) as contiguous tensors, converting each
layer only when it is first asked for (``output`` converts just the last layer).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

#: Key of an entry in ``final_states()``/``initial_states``: a layer id for the main state,
#: or (layer id, name) for an auxiliary state such as a MultiplierNOCC's "s1"/"s2".
StateKey = int | tuple[int, str]


def split_state_key(key: Any) -> tuple[int, str]:
    """(layer id, state name) from an `initial_states` key: `3`, `(3, "s1")` or `"3.s1"`."""
    if isinstance(key, tuple) and len(key) == 2:
        lid, name = key
    elif isinstance(key, str) and "." in key:
        lid, name = key.split(".", 1)
    else:
        lid, name = key, "s"
    try:
        return int(lid), str(name)
    except (TypeError, ValueError):
        raise KeyError(f"initial_states key {key!r} is not a layer id or (layer id, name)") from None


def _batch_major(history: Tensor) -> Tensor:
    return history.transpose(0, 1).contiguous()


class _LazyHistories(dict):
    """dict {layer id: [B, ..., D]} filled from time-major tensors on first access per key."""

    def __init__(self, time_major: dict[int, Tensor]) -> None:
        super().__init__()
        self._time_major = time_major

    def __missing__(self, key: int) -> Tensor:
        if key not in self._time_major:
            raise KeyError(f"no history for layer {key}; layers are {sorted(self._time_major)}")
        value = _batch_major(self._time_major[key])
        self[key] = value
        return value

    def _fill(self) -> None:
        for key in self._time_major:
            if not dict.__contains__(self, key):
                self[key]

    def __iter__(self):
        return iter(sorted(self._time_major))

    def __len__(self) -> int:
        return len(self._time_major)

    def __contains__(self, key: object) -> bool:
        return key in self._time_major

    def keys(self):
        return sorted(self._time_major)

    def items(self):
        self._fill()
        return [(k, dict.__getitem__(self, k)) for k in sorted(self._time_major)]

    def values(self):
        return [v for _, v in self.items()]

    def get(self, key, default=None):
        return self[key] if key in self._time_major else default


class SimulationResult:
    """Histories keyed by layer id: ``states`` [B, T+1, D] (index 0 = initial), ``phi`` and
    ``g`` [B, T, D] for tracked runs (empty dicts otherwise)."""

    def __init__(self, states_time_major: dict[int, Tensor], output_layer: int,
                 phi_time_major: dict[int, Tensor] | None = None,
                 g_time_major: dict[int, Tensor] | None = None,
                 aux_final: dict[int, dict[str, Tensor]] | None = None) -> None:
        self.states_time_major = states_time_major
        self.output_layer = int(output_layer)
        self.states: dict[int, Tensor] = _LazyHistories(states_time_major)
        self.phi: dict[int, Tensor] = _LazyHistories(phi_time_major or {})
        self.g: dict[int, Tensor] = _LazyHistories(g_time_major or {})
        self.aux_final: dict[int, dict[str, Tensor]] = aux_final or {}

    @property
    def output(self) -> Tensor:
        """The last layer's state history [B, T+1, D_out]."""
        return self.states[self.output_layer]

    @property
    def steps(self) -> int:
        """Number of simulated steps T (smaller than the input length after an early stop)."""
        return int(self.states_time_major[self.output_layer].shape[0]) - 1

    def final_states(self) -> dict[StateKey, Tensor]:
        """States at the last step [B, D], in the form ``initial_states=`` accepts.

        Main states are keyed by layer id; auxiliary states by (layer id, name), e.g.
        ``(3, "s1")`` and ``(3, "s2")`` for a MultiplierNOCC layer 3.
        """
        out: dict[StateKey, Tensor] = {lid: hist[-1] for lid, hist in self.states_time_major.items()}
        for lid, aux in self.aux_final.items():
            for name, value in aux.items():
                out[(lid, name)] = value
        return out

    def __repr__(self) -> str:
        shapes = {lid: tuple(h.shape[1:2]) + (h.shape[0],) + tuple(h.shape[2:])
                  for lid, h in self.states_time_major.items()}
        return f"SimulationResult(steps={self.steps}, states={shapes}, tracked_phi={list(self.phi.keys())}, tracked_g={list(self.g.keys())})"
