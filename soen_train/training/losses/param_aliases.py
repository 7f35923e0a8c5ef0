"""Old import path of the original toolkit's loss param names; see ``soen_train.catalog.loss_param_aliases``."""

from soen_train.catalog.loss_param_aliases import (  # noqa: F401  (re-exported)
    LOSS_PARAM_ALIASES,
    canonical_params,
)
