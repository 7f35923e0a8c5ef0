"""Original JAX `.pkl` checkpoints: migrate to .jax.npz + .soen without running anything in
them, verify (--dir, --verbose), resume_training; crafted pickles are refused by name."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
from original_pickles import BIAS, J01, J11, J12, MASK11, PHI, write_original_pickle

from soen_train.jax.cli import main as jax_cli
from soen_train.jax.original_checkpoint import (
    UnsafePickleError,
    migrate_pickle,
    read_original_pickle,
    resume_training,
)


def test_migrate_converts_weights_and_verify_passes(tmp_path, capsys):
    pkl = write_original_pickle(tmp_path / "last.pkl")
    assert jax_cli(["migrate", str(pkl)]) == 0
    printed = capsys.readouterr().out
    assert "optax" in printed and "soen_toolkit.utils.port_to_jax.eqx_model.SoenEqxModel" in printed
    from soen_train.jax.checkpoint import load_checkpoint
    from soen_train.model.network import SOENModel

    ckpt = load_checkpoint(tmp_path / "last.jax.npz")
    model = SOENModel.load(tmp_path / "last.soen")
    named = {k: v.detach().numpy() for k, v in model.parameters_by_name().items()}
    np.testing.assert_allclose(named["layers.1.phi_offset"], PHI, rtol=1e-6)
    np.testing.assert_allclose(named["layers.1.bias_current"], BIAS, rtol=1e-6)
    np.testing.assert_allclose(named["connections.0_to_1"], J01, rtol=1e-6)
    np.testing.assert_allclose(named["connections.1_to_2"], J12, rtol=1e-6)
    np.testing.assert_allclose(named["connections.1_to_1"], J11 * MASK11, rtol=1e-6)
    assert "connections.1_to_2" not in ckpt.trainable and "connections.0_to_1" in ckpt.trainable
    assert ckpt.epoch == 5 and ckpt.global_step == 250
    assert model.spec["simulation"]["dt"] == 37.0

    assert jax_cli(["verify", "--dir", str(tmp_path), "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "connections.1_to_1: shape (3, 3), max |diff| 0.000e+00" in out
    assert "2 of 2 checkpoints" in out  # the .jax.npz and the original .pkl, each against last.soen
    assert jax_cli(["verify", "--pkl", str(pkl), "--soen", str(tmp_path / "last.soen")]) == 0


def test_params_only_pickle_needs_the_model_and_migrates_with_it(tmp_path, capsys):
    full = write_original_pickle(tmp_path / "full.pkl")
    assert jax_cli(["migrate", str(full), "-o", str(tmp_path / "model")]) == 0
    legacy = write_original_pickle(tmp_path / "old.pkl", with_model=False)
    assert jax_cli(["migrate", str(legacy)]) == 1
    assert "--soen MODEL.soen" in capsys.readouterr().err
    assert jax_cli(["migrate", "--pkl", str(legacy), "--soen", str(tmp_path / "model.soen")]) == 0
    assert jax_cli(["verify", str(tmp_path / "old.jax.npz"), str(tmp_path / "model.soen")]) == 0


def test_resume_training_returns_model_params_and_progress(tmp_path):
    pkl = write_original_pickle(tmp_path / "last.pkl")
    jax_model, params, opt_state, start_epoch, global_step = resume_training(pkl)
    assert (start_epoch, global_step, opt_state) == (5, 250, None)
    np.testing.assert_allclose(np.asarray(params["connections.0_to_1"]), J01, rtol=1e-6)
    assert set(params) == {k for k in params} and "connections.1_to_1" in jax_model.trainable
    npz, _, _ = migrate_pickle(pkl)
    state = resume_training(npz)
    assert state.start_epoch == 5 and state.opt_state is None  # migrated: no optimiser state


def test_reading_never_imports_the_optimiser_libraries(tmp_path):
    pkl = write_original_pickle(tmp_path / "last.pkl")
    code = (
        "import sys; from soen_train.jax.original_checkpoint import read_original_pickle; "
        f"d = read_original_pickle({str(pkl)!r}); "
        "print(sorted(m for m in ('optax', 'equinox', 'jax', 'soen_toolkit') if m in sys.modules)); "
        "print(type(d['opt_state'][1]).__mro__[1].__name__, d['opt_state'][1].state['topology'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    lines = out.stdout.splitlines()
    assert lines[0] == "[]"
    assert lines[1] == "PickleStub {'dt': 37.0}"


class _RunsShell:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _Evaluates:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (eval, (f"open({str(self.marker)!r}, 'w').write('x')",))


class _Spawns:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (subprocess.Popen, (["touch", str(self.marker)],))


@pytest.mark.parametrize("payload, refused", [
    (_RunsShell, r"'(posix|os)\.system'"),
    (_Evaluates, r"'builtins\.eval'"),
    (_Spawns, r"'subprocess\.Popen'"),
])
def test_crafted_pickle_is_refused_and_nothing_runs(tmp_path, payload, refused, capsys):
    marker = tmp_path / "pwned"
    pkl = tmp_path / "evil.pkl"
    data = {"params": {"layer_params": (), "connection_params": np.zeros((0, 0, 0))},
            "opt_state": payload(marker), "epoch": 0}
    pkl.write_bytes(pickle.dumps(data, protocol=4))
    with pytest.raises(UnsafePickleError, match=refused):
        read_original_pickle(pkl)
    assert jax_cli(["migrate", str(pkl)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("Error: ") and "nothing in the file was run" in err[0]
    assert jax_cli(["verify", str(pkl), str(tmp_path / "x.soen")]) == 1
    assert not marker.exists()
    assert not (tmp_path / "evil.jax.npz").exists()
