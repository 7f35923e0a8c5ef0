"""What one simulation returns: every layer's state history plus optional tracked signals."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Tuple, Union

from torch import Tensor

#: Key of an entry in ``final_states()``/``initial_states``: a layer id for the main state,
#: or (layer id, name) for an auxiliary state such as a MultiplierNOCC's "s1"/"s2".
StateKey = Union[int, Tuple[int, str]]


@dataclass
class SimulationResult:
    """Histories keyed by layer id: states [B, T+1, D] (index 0 = initial), phi/g [B, T, D]."""

    states: Dict[int, Tensor]
    output_layer: int
    phi: Dict[int, Tensor] = field(default_factory=dict)
    g: Dict[int, Tensor] = field(default_factory=dict)
    aux_final: Dict[int, Dict[str, Tensor]] = field(default_factory=dict)

    @property
    def output(self) -> Tensor:
        """The last layer's state history [B, T+1, D_out]."""
        return self.states[self.output_layer]

    @property
    def steps(self) -> int:
        """Number of simulated steps T (smaller than the input length after an early stop)."""
        return int(self.output.shape[1]) - 1

    def final_states(self) -> Dict[StateKey, Tensor]:
        """States at the last step, in the form ``initial_states=`` accepts.

        Main states are keyed by layer id ([B, D]); auxiliary states by (layer id, name),
        e.g. ``(3, "s1")`` and ``(3, "s2")`` for a MultiplierNOCC layer 3.
        """
        out: Dict[StateKey, Tensor] = {lid: hist[:, -1] for lid, hist in self.states.items()}
        for lid, aux in self.aux_final.items():
            for name, value in aux.items():
                out[(lid, name)] = value
        return out
