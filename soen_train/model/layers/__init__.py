"""Layer catalog: every layer type an architecture YAML can name, in one registry.

The names (and aliases) are the original toolkit's. ``Soma`` and ``Synapse`` are placeholders
there too (it refuses to build them); here they are refused by name when the YAML is read.
"""

from __future__ import annotations

from soen_train.catalog.layers import LAYER_CATALOG
from soen_train.registry import Registry, UnknownNameError

from .base import (
    SOLVERS,
    InternalWeight,
    LayerHistory,
    LayerRunContext,
    OptionDef,
    OriginalStateError,
    ParamDef,
    SOENLayer,
)
from .input_layer import InputLayer
from .leaky_gru import LeakyGRULayer
from .min_gru import MinGRULayer
from .multiplier import MultiplierNOCCLayer, MultiplierWICCLayer, soft_abs
from .single_dendrite import SingleDendriteLayer
from .stateless import (
    DendriteReadoutLayer,
    NonLinearLayer,
    ScalingLayer,
    SoftmaxLayer,
    StatelessLayer,
)
from .torch_cells import GRULayer, LSTMLayer, RNNLayer

#: Layer types the original toolkit registers without dynamics (it raises when building them).
PLACEHOLDER_LAYER_TYPES: dict[str, str] = {
    "Soma": "Soma dynamics are not defined",
    "Synapse": "Synapse dynamics and state handling are not defined",
}


class LayerRegistry(Registry[type]):
    """The layer catalog; the original's placeholder names get their own clear error."""

    def canonical(self, name: str) -> str:
        """The registered name behind ``name``; Soma/Synapse are refused with the reason."""
        if name in PLACEHOLDER_LAYER_TYPES:
            raise UnknownNameError(
                f"layer type '{name}' is a placeholder in the original toolkit too "
                f"({PLACEHOLDER_LAYER_TYPES[name]}; the original refuses to build it); "
                f"remove it from the spec. Valid layer types: {', '.join(self.names(with_aliases=True))}"
            )
        return super().canonical(name)


#: Catalog of layer classes keyed by ``layer_type`` (aliases resolve to the same class); each
#: class's ``PARAMS`` must equal its declaration in ``soen_train.catalog.layers``.
LAYER_TYPES = LAYER_CATALOG.bind("torch", LayerRegistry("layer type"))
for _name, _cls in (
    ("Input", InputLayer),
    ("SingleDendrite", SingleDendriteLayer),
    ("MultiplierWICC", MultiplierWICCLayer),
    ("MultiplierNOCC", MultiplierNOCCLayer),
    ("DendriteReadout", DendriteReadoutLayer),
    ("ScalingLayer", ScalingLayer),
    ("NonLinear", NonLinearLayer),
    ("Softmax", SoftmaxLayer),
    ("RNN", RNNLayer),
    ("GRU", GRULayer),
    ("LSTM", LSTMLayer),
    ("MinGRU", MinGRULayer),
    ("LeakyGRU", LeakyGRULayer),
):
    LAYER_CATALOG.torch(_name)(_cls)
LAYER_CATALOG.check_complete("torch")

__all__ = [
    "LAYER_TYPES",
    "PLACEHOLDER_LAYER_TYPES",
    "SOLVERS",
    "DendriteReadoutLayer",
    "GRULayer",
    "InputLayer",
    "InternalWeight",
    "LSTMLayer",
    "LayerHistory",
    "LayerRunContext",
    "LeakyGRULayer",
    "MinGRULayer",
    "MultiplierNOCCLayer",
    "MultiplierWICCLayer",
    "NonLinearLayer",
    "OptionDef",
    "OriginalStateError",
    "ParamDef",
    "RNNLayer",
    "SOENLayer",
    "ScalingLayer",
    "SingleDendriteLayer",
    "SoftmaxLayer",
    "StatelessLayer",
    "soft_abs",
]
