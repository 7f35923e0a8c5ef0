"""Physical constants of the SOEN circuits and conversions between simulation steps and time.

The simulator is dimensionless: one unit of simulation time is ``1 / omega_c`` with
``omega_c = 2*pi*Ic*R_jj / Phi0`` (the Josephson-junction characteristic frequency).
These helpers turn a dimensionless step ``dt`` into seconds and back, so users can reason
about how much physical time a sequence covers (about 1.28 ps per unit by default).
"""

from __future__ import annotations

import math
import os

#: Planck constant [J s].
PLANCK_H = 6.62607015e-34
#: Elementary charge [C].
ELEMENTARY_CHARGE = 1.602176634e-19
#: Magnetic flux quantum Phi0 = h / (2e) [Wb].
PHI0 = PLANCK_H / (2.0 * ELEMENTARY_CHARGE)
#: Junction critical current Ic [A].
IC = 100e-6
#: Junction shunt resistance R_jj [Ohm].
R_JJ = 1.2191160341258176
#: Capacitance per critical current gamma_c [F/A].
GAMMA_C = 1.5e-9
#: Stewart-McCumber parameter beta_c = R_jj^2 * 2*pi*gamma_c*Ic^2 / Phi0 (dimensionless).
BETA_C = R_JJ**2 * 2.0 * math.pi * GAMMA_C * IC**2 / PHI0
#: Inductance of a dendrite's integrating loop [H] (0.5 nH); its 1/beta_L is the default rate.
DENDRITE_LOOP_INDUCTANCE = 5e-10


def beta_l(inductance: float) -> float:
    """Dimensionless beta_L = 2*pi*Ic*L/Phi0 of an inductance L in henries (Ic = 100 uA)."""
    return 2.0 * math.pi * IC * float(inductance) / PHI0


#: The original toolkit's default gamma_plus of SingleDendrite and gamma_plus/gamma_minus of
#: MultiplierWICC: 1/beta_L of the 0.5 nH loop = 0.00658212 (measured in the parity fixtures).
DEFAULT_LOOP_GAMMA = 1.0 / beta_l(DENDRITE_LOOP_INDUCTANCE)
#: Default simulation step (dimensionless, units of 1/omega_c).
DEFAULT_DT = 37.0
#: Environment variable that overrides omega_c [rad/s].
OMEGA_C_ENV = "SOEN_OMEGA_C"


def omega_c() -> float:
    """Characteristic angular frequency omega_c [rad/s]; ``SOEN_OMEGA_C`` overrides it."""
    override = os.environ.get(OMEGA_C_ENV)
    if override is not None and override.strip():
        try:
            value = float(override)
        except ValueError as exc:
            raise ValueError(
                f"environment variable {OMEGA_C_ENV}={override!r} is not a number; "
                "set it to omega_c in rad/s (e.g. 7.8e11) or unset it"
            ) from exc
        if value <= 0:
            raise ValueError(f"{OMEGA_C_ENV} must be > 0 rad/s, got {value}")
        return value
    return 2.0 * math.pi * IC * R_JJ / PHI0


def time_unit_seconds() -> float:
    """Duration of one dimensionless time unit, 1/omega_c [s] (about 1.28e-12)."""
    return 1.0 / omega_c()


def dt_to_seconds(dt: float) -> float:
    """Physical duration [s] of ``dt`` dimensionless time units."""
    return float(dt) * time_unit_seconds()


def dt_to_nanoseconds(dt: float) -> float:
    """Physical duration [ns] of ``dt`` dimensionless time units."""
    return dt_to_seconds(dt) * 1e9


def seconds_to_dt(seconds: float) -> float:
    """Dimensionless step that corresponds to ``seconds`` of physical time [s]."""
    return float(seconds) * omega_c()


def nanoseconds_to_dt(nanoseconds: float) -> float:
    """Dimensionless step that corresponds to ``nanoseconds`` of physical time [ns]."""
    return seconds_to_dt(float(nanoseconds) * 1e-9)


def sequence_duration_seconds(dt: float, steps: int) -> float:
    """Physical duration [s] of ``steps`` simulation steps of size ``dt``."""
    return dt_to_seconds(dt) * int(steps)
