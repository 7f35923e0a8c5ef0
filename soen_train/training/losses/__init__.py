"""The torch losses: ``LOSSES`` registry, ``LossContext``, ``WeightedLoss`` and every loss.

Importing this package registers all torch losses against their declarations in
``soen_train.catalog.losses`` (name, params, ``needs``, value check) and fails at import when
a declared loss has no torch implementation.
"""

from soen_train.catalog.param_checks import ParameterTypeError
from soen_train.registry import UnknownParameterError
from soen_train.training.losses import (  # noqa: F401  (imported to register the losses)
    classification,
    criticality,
    margins,
    output_penalties,
    quantization,
    regression,
    state_penalties,
    weight_penalties,
)
from soen_train.training.losses.catalog import (
    LOSS_CATALOG,
    LOSSES,
    NEEDS_VOCABULARY,
    call_loss,
    loss_needs,
    loss_parameters,
    validate_loss_params,
)
from soen_train.training.losses.context import LossContext
from soen_train.training.losses.quantization import (
    DEFAULT_CODEBOOK,
    codebook_from_params,
    nearest_code,
    uniform_codebook,
)
from soen_train.training.losses.regression import align_for_mse
from soen_train.training.losses.weighted import LossTerm, WeightedLoss

LOSS_CATALOG.check_complete("torch")

__all__ = [
    "DEFAULT_CODEBOOK",
    "LOSSES",
    "NEEDS_VOCABULARY",
    "LossContext",
    "LossTerm",
    "ParameterTypeError",
    "UnknownParameterError",
    "WeightedLoss",
    "align_for_mse",
    "call_loss",
    "codebook_from_params",
    "loss_needs",
    "loss_parameters",
    "nearest_code",
    "uniform_codebook",
    "validate_loss_params",
]
