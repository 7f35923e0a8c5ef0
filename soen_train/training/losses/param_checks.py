"""Old import path of the catalog parameter checks; they live in ``soen_train.catalog.param_checks``."""

from soen_train.catalog.param_checks import (  # noqa: F401  (re-exported)
    ParameterTypeError,
    as_list,
    check_bool,
    check_choice,
    check_int_list,
    check_number,
)
