"""JAX checkpoints: safe round trip, ``soen-train-jax verify`` PASS/FAIL, resume refusals."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import model_zoo as zoo
import numpy as np
import pytest
import torch
from run_setup import repeat_inputs, tiny_config

from soen_train.jax.checkpoint import JaxCheckpoint, load_checkpoint, save_checkpoint, soen_path_for
from soen_train.jax.cli import main as jax_cli
from soen_train.jax.errors import JaxCheckpointError
from soen_train.jax.simulator import JaxSOEN
from soen_train.model.network import SOENModel
from soen_train.training.jax_loop.trainer import JaxTrainer


def _checkpoint_with_soen(tmp_path: Path) -> Path:
    """A checkpoint of a fresh pulse net and its .soen, as the trainer writes them."""
    model = SOENModel.from_yaml(zoo.pulse_net(), seed=7)
    jax_model, params = JaxSOEN.from_torch(model)
    path = tmp_path / "last.jax.npz"
    save_checkpoint(
        path,
        JaxCheckpoint(
            params={k: np.asarray(v) for k, v in params.items()},
            spec=jax_model.spec,
            trainable=sorted(jax_model.trainable),
            epoch=3,
            global_step=12,
            opt_leaves=[np.arange(4, dtype=np.float32), np.zeros((2, 2), np.float32)],
            opt_structure="tree",
            trainer_state={"best_val": 0.5, "history": [{"val_loss": 0.5}]},
        ),
    )
    model.save(soen_path_for(path))
    return path


def test_round_trip_keeps_every_array_and_field(tmp_path: Path) -> None:
    path = _checkpoint_with_soen(tmp_path)
    ckpt = load_checkpoint(path)
    model = SOENModel.load(soen_path_for(path))
    for name, p in model.parameters_by_name().items():
        np.testing.assert_array_equal(ckpt.params[name], p.detach().numpy())
    assert ckpt.epoch == 3 and ckpt.global_step == 12 and ckpt.opt_structure == "tree"
    np.testing.assert_array_equal(ckpt.opt_leaves[0], np.arange(4, dtype=np.float32))
    assert ckpt.trainer_state == {"best_val": 0.5, "history": [{"val_loss": 0.5}]}
    assert ckpt.spec == model.spec
    assert soen_path_for(path) == tmp_path / "last.soen"


def test_verify_pass_then_fail_after_a_weight_changes(tmp_path: Path, capsys) -> None:
    path = _checkpoint_with_soen(tmp_path)
    assert jax_cli(["verify", str(path)]) == 0
    assert capsys.readouterr().out.startswith("PASS")
    model = SOENModel.load(soen_path_for(path))
    with torch.no_grad():
        model.parameters_by_name()["connections.1_to_2"][0, 1] += 1e-3
    model.save(soen_path_for(path))
    assert jax_cli(["verify", str(path)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAIL") and "connections.1_to_2: max |diff| 1.000e-03" in out
    assert "connections.0_to_1" not in out
    # a looser tolerance accepts the same files
    assert jax_cli(["verify", str(path), "--atol", "2e-3"]) == 0


def test_verify_reports_missing_and_foreign_files(tmp_path: Path, capsys) -> None:
    path = _checkpoint_with_soen(tmp_path)
    other = SOENModel.from_yaml(zoo.every_layer_ps(), seed=1)
    other.save(tmp_path / "other.soen")
    assert jax_cli(["verify", str(path), str(tmp_path / "other.soen")]) == 1
    assert "architecture: layers differ" in capsys.readouterr().out
    assert jax_cli(["verify", str(tmp_path / "nope.jax.npz")]) == 1
    assert "not found" in capsys.readouterr().out
    soen_path_for(path).unlink()
    assert jax_cli(["verify", str(path)]) == 1
    assert ".soen file not found" in capsys.readouterr().out


def test_console_script_exit_codes(tmp_path: Path) -> None:
    path = _checkpoint_with_soen(tmp_path)
    script = Path(sys.executable).with_name("soen-train-jax")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "soen_train.jax.cli"]
    ok = subprocess.run([*cmd, "verify", str(path)], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and ok.stdout.startswith("PASS")


def test_a_pickle_inside_is_refused_not_executed(tmp_path: Path) -> None:
    """Object arrays need pickle; loading refuses them, so nothing in the file can run."""
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    path = tmp_path / "evil.jax.npz"
    with open(path, "wb") as handle:
        np.savez(handle, meta=np.array([Payload()], dtype=object))
    with pytest.raises(JaxCheckpointError, match="cannot read"):
        load_checkpoint(path)
    assert not marker.exists()
    plain = tmp_path / "plain.jax.npz"
    plain.write_bytes(pickle.dumps({"params": 1}))
    with pytest.raises(JaxCheckpointError):
        load_checkpoint(plain)


def test_save_refuses_other_names(tmp_path: Path) -> None:
    with pytest.raises(JaxCheckpointError, match=r"end in '.jax.npz'"):
        save_checkpoint(tmp_path / "x.npz", JaxCheckpoint(params={}, spec={}, trainable=[]))


def test_resume_refuses_torch_checkpoints_and_other_architectures(
    tmp_path: Path, pulses_file: Path
) -> None:
    cfg = tiny_config(tmp_path, pulses_file, max_epochs=1)
    paths, dm, model = repeat_inputs(cfg)
    trainer = JaxTrainer(cfg, paths, dm, model, loggers=[])
    with pytest.raises(JaxCheckpointError, match=r"torch .ckpt cannot continue"):
        trainer.restore(str(tmp_path / "last.ckpt"))
    foreign = SOENModel.from_yaml(zoo.every_layer_ps(), seed=1)
    jax_model, params = JaxSOEN.from_torch(foreign)
    path = save_checkpoint(
        tmp_path / "foreign.jax.npz",
        JaxCheckpoint(
            params={k: np.asarray(v) for k, v in params.items()}, spec=jax_model.spec, trainable=[]
        ),
    )
    with pytest.raises(JaxCheckpointError, match="architecture differs"):
        trainer.restore(str(path))
