"""Layer catalog: every layer type an architecture YAML can name, in one registry."""

from __future__ import annotations

from soen_train.registry import Registry

from .base import (
    SOLVERS,
    InternalWeight,
    LayerHistory,
    LayerRunContext,
    OptionDef,
    ParamDef,
    SOENLayer,
)
from .input_layer import InputLayer
from .multiplier import MultiplierNOCCLayer, MultiplierWICCLayer
from .single_dendrite import SingleDendriteLayer
from .virtual import LeakyGRULayer, MinGRULayer, NonLinearLayer, RNNLayer

#: Catalog of layer classes keyed by ``layer_type`` (aliases resolve to the same class).
LAYER_TYPES: Registry[type] = Registry("layer type")
LAYER_TYPES.register("Input", "Linear")(InputLayer)
LAYER_TYPES.register("SingleDendrite")(SingleDendriteLayer)
LAYER_TYPES.register("MultiplierWICC", "Multiplier")(MultiplierWICCLayer)
LAYER_TYPES.register("MultiplierNOCC", "MultiplierV2", "Multiplier_v2")(MultiplierNOCCLayer)
LAYER_TYPES.register("RNN")(RNNLayer)
LAYER_TYPES.register("LeakyGRU", "leakyGRU")(LeakyGRULayer)
LAYER_TYPES.register("MinGRU")(MinGRULayer)
LAYER_TYPES.register("NonLinear")(NonLinearLayer)

__all__ = [
    "LAYER_TYPES",
    "SOLVERS",
    "InputLayer",
    "InternalWeight",
    "LayerHistory",
    "LayerRunContext",
    "LeakyGRULayer",
    "MinGRULayer",
    "MultiplierNOCCLayer",
    "MultiplierWICCLayer",
    "NonLinearLayer",
    "OptionDef",
    "ParamDef",
    "RNNLayer",
    "SOENLayer",
    "SingleDendriteLayer",
]
