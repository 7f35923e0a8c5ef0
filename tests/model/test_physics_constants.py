"""Physical constants and dt <-> time conversions."""

import math

import pytest

from soen_train.model import physics


def test_constants_follow_their_definitions():
    assert physics.PHI0 == pytest.approx(6.62607015e-34 / (2 * 1.602176634e-19), rel=1e-15)
    expected_beta = physics.R_JJ**2 * 2 * math.pi * physics.GAMMA_C * physics.IC**2 / physics.PHI0
    assert physics.BETA_C == pytest.approx(expected_beta, rel=1e-15)
    assert physics.DEFAULT_DT == 37.0


def test_one_time_unit_is_one_over_omega_c(monkeypatch):
    monkeypatch.delenv(physics.OMEGA_C_ENV, raising=False)
    omega = 2 * math.pi * physics.IC * physics.R_JJ / physics.PHI0
    assert physics.omega_c() == pytest.approx(omega, rel=1e-15)
    assert physics.time_unit_seconds() == pytest.approx(1.0 / omega, rel=1e-15)
    # With the spec's constants 1/omega_c = Phi0 / (2*pi*Ic*R_jj) = 2.70 ps (the spec's prose
    # says "about 1.28 ps"; the formula and constants are what we reproduce).
    assert 2.69e-12 < physics.time_unit_seconds() < 2.71e-12


def test_conversions_round_trip(monkeypatch):
    monkeypatch.delenv(physics.OMEGA_C_ENV, raising=False)
    dt = 37.0
    seconds = physics.dt_to_seconds(dt)
    assert seconds == pytest.approx(dt / physics.omega_c(), rel=1e-15)
    assert physics.seconds_to_dt(seconds) == pytest.approx(dt, rel=1e-12)
    assert physics.dt_to_nanoseconds(dt) == pytest.approx(seconds * 1e9, rel=1e-15)
    assert physics.nanoseconds_to_dt(physics.dt_to_nanoseconds(dt)) == pytest.approx(dt, rel=1e-12)
    assert physics.sequence_duration_seconds(dt, 100) == pytest.approx(100 * seconds, rel=1e-15)


def test_omega_c_override_and_bad_value(monkeypatch):
    monkeypatch.setenv(physics.OMEGA_C_ENV, "1e12")
    assert physics.omega_c() == 1e12
    assert physics.dt_to_seconds(2.0) == pytest.approx(2e-12)
    monkeypatch.setenv(physics.OMEGA_C_ENV, "fast")
    with pytest.raises(ValueError, match="SOEN_OMEGA_C"):
        physics.omega_c()
    monkeypatch.setenv(physics.OMEGA_C_ENV, "-5")
    with pytest.raises(ValueError, match="> 0"):
        physics.omega_c()
