"""The SOEN simulator (plain PyTorch): layers, source functions, connections, solvers, files.

    from soen_train.model import SOENModel
    model = SOENModel.from_yaml("soen_train/model/examples/pulse_net.yaml", seed=1)
    y = model(x)               # x [B, T, D_in] -> output history [B, T+1, D_out]
    model.save("net.soen"); SOENModel.load("net.soen")
"""

from pathlib import Path

from .architecture import architecture_to_dict, parse_architecture, read_architecture
from .connectivity import CONNECTION_PATTERNS, WEIGHT_INITS
from .distributions import PARAM_DISTRIBUTIONS
from .file_errors import SoenFileError
from .layers import LAYER_TYPES
from .network import SOENModel
from .physics import (
    BETA_C,
    DEFAULT_DT,
    GAMMA_C,
    IC,
    PHI0,
    R_JJ,
    dt_to_nanoseconds,
    dt_to_seconds,
    nanoseconds_to_dt,
    omega_c,
    seconds_to_dt,
    sequence_duration_seconds,
    time_unit_seconds,
)
from .result import SimulationResult
from .source_functions import SOURCE_FUNCTIONS, build_source_function
from .validation import ArchitectureError

#: Folder of the example architecture YAMLs shipped with the package.
EXAMPLES_DIR = Path(__file__).with_name("examples")

__all__ = [
    "BETA_C",
    "CONNECTION_PATTERNS",
    "DEFAULT_DT",
    "EXAMPLES_DIR",
    "GAMMA_C",
    "IC",
    "LAYER_TYPES",
    "PARAM_DISTRIBUTIONS",
    "PHI0",
    "R_JJ",
    "SOURCE_FUNCTIONS",
    "WEIGHT_INITS",
    "ArchitectureError",
    "SOENModel",
    "SimulationResult",
    "SoenFileError",
    "architecture_to_dict",
    "build_source_function",
    "dt_to_nanoseconds",
    "dt_to_seconds",
    "nanoseconds_to_dt",
    "omega_c",
    "parse_architecture",
    "read_architecture",
    "seconds_to_dt",
    "sequence_duration_seconds",
    "time_unit_seconds",
]
