"""Input (alias Linear): a layer without dynamics whose state is the flux it receives.

Used as the first layer (its states are the input sequence when ``input_type: state``)
and as a plain linear read-out: s_t = phi_t, the weighted sum of its sources. Like the
original toolkit it never applies an internal (L->L) connection.
"""

from __future__ import annotations

from torch import Tensor

from .base import LayerRunContext
from .stateless import StatelessLayer


class InputLayer(StatelessLayer):
    """State = received flux (plus optional phi/s noise); no parameters, no memory."""

    layer_type = "Input"

    def mapped(self, phi: Tensor, values: dict[str, Tensor], ctx: LayerRunContext) -> Tensor:
        """The identity: s_t = phi_t."""
        return phi
