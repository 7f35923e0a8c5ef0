"""Opening files never runs code, and secrets never reach any file, MLflow or the logs."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import all_files, run_dir, tiny


class _Payload:
    """Unpickling this creates the marker file: proof that a loader ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _malicious_torch_file(path: Path, marker: Path, wrap_checkpoint: bool) -> Path:
    body = {"state_dict": {"w": torch.zeros(2)}, "evil": _Payload(marker)}
    if wrap_checkpoint:  # shaped like a Lightning checkpoint
        body.update(epoch=0, global_step=1, pytorch_lightning_version="2.6.0", loops={}, callbacks={})
    torch.save(body, path)
    return path


def test_soen_files_do_not_run_code(tmp_path):
    from soen_train.model import SOENModel
    from soen_train.model.soen_file import SoenFileError

    marker = tmp_path / "pwned"
    bad = _malicious_torch_file(tmp_path / "model.soen", marker, wrap_checkpoint=False)
    with pytest.raises(SoenFileError, match="safetensors"):
        SOENModel.load(bad)
    with pytest.raises(SoenFileError, match="could run code"):
        SOENModel.import_original(bad)
    raw = tmp_path / "raw.soen"
    raw.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(SoenFileError):
        SOENModel.import_original(raw)
    assert not marker.exists()


def test_resuming_from_a_malicious_checkpoint_is_refused(cli_here, tmp_path):
    marker = tmp_path / "pwned"
    bad = _malicious_torch_file(tmp_path / "evil.ckpt", marker, wrap_checkpoint=True)
    res = cli_here(*tiny("logger=tensorboard", "hydra.run.dir=job", f"training.train_from_checkpoint={bad}"))
    assert res.code == 2, res.text[-3000:]
    assert "Traceback" not in res.text
    (line,) = [ln for ln in res.err.splitlines() if ln.startswith("Error: ")]
    assert line.startswith("Error: training.train_from_checkpoint: refused to load") and str(bad) in line
    assert not marker.exists()


def test_jax_checkpoints_do_not_run_code(tmp_path):
    pytest.importorskip("jax")
    from soen_train.jax.checkpoint import load_checkpoint
    from soen_train.jax.errors import JaxCheckpointError

    marker = tmp_path / "pwned"
    path = tmp_path / "evil.jax.npz"
    evil = np.empty(1, dtype=object)
    evil[0] = _Payload(marker)
    np.savez(path, **{"__meta__": evil, "param/w": evil})
    with pytest.raises(JaxCheckpointError):
        load_checkpoint(path)
    # a zip whose member is a raw pickle, named like the metadata entry
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("__meta__.npy", pickle.dumps(_Payload(marker)))
    path.write_bytes(buf.getvalue())
    with pytest.raises(JaxCheckpointError):
        load_checkpoint(path)
    assert not marker.exists()


SECRET_CLI = "Cli-S3cret-Value-7781"
SECRET_YAML = "Yaml-S3cret-Value-4410"
SECRET_TAG = "Tag-S3cret-Value-9923"


def test_secrets_never_reach_files_mlflow_tensorboard_or_logs(cli_here, tmp_path):
    conf = tmp_path / "myconf"
    (conf / "experiment").mkdir(parents=True)
    # a user's experiment file with a password and a secret-named MLflow tag
    (conf / "experiment" / "secret_run.yaml").write_text(
        "# @package _global_\n"
        "defaults:\n  - pulses\n"
        f"logging:\n  mlflow_username: alice\n  mlflow_password: {SECRET_YAML}\n"
        f"  mlflow_tags: {{team: soen, api_token: {SECRET_TAG}}}\n"
    )
    res = cli_here("--config-dir", str(conf), *tiny(
        "+experiment=secret_run", "logger=both", "hydra.run.dir=job",
        f"logging.mlflow_password={SECRET_CLI}", "hydra.job_logging.root.level=DEBUG",
    )[1:])
    assert res.code == 0, res.text[-3000:]
    for secret in (SECRET_CLI, SECRET_YAML, SECRET_TAG):
        assert secret not in res.text
        for path in all_files(tmp_path):
            if conf in path.parents:
                continue  # the user's own config file holds it, of course
            assert secret.encode() not in path.read_bytes(), (secret, path)
    job = tmp_path / "job"
    assert (job / ".hydra" / "config.yaml").is_file() and (job / "soen_result.json").is_file()
    assert (job / "cli.log").is_file() and (job / "run_record.json").is_file()
    assert list((run_dir(tmp_path) / "logs" / "repeat_0").glob("events.out.tfevents.*"))

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'experiments/project_soen/mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("pulses").experiment_id])
    values = list(run.data.params.values()) + list(run.data.tags.values())
    assert not [v for v in values if any(s in v for s in (SECRET_CLI, SECRET_YAML, SECRET_TAG))]
    assert run.data.params["logging.mlflow_password"] == "***"
    assert run.data.tags.get("team") == "soen" and run.data.tags.get("api_token") == "***"


@pytest.mark.parametrize("text,holds", [
    ("logging:\n  mlflow_password: null\n  lr: 0.1\n", False),
    ("a: {password: null}\nb: ''\n", False),
    ("'api_token': ''\n", False),
    ("logging:\n  mlflow_password: hunter2\n", True),
    ("a: {password: null, token: abc}\n", True),  # the second key of the line holds one
    ("secrets:\n  db: abc\n", True),  # a nested mapping under a secret key
    ("api_key: |\n  abc\n", True),  # a block scalar
    ("- credential: abc\n", True),
    ("lr: 0.1\nname: password\n", False),  # the word as a value is no key
])
def test_the_secret_prefilter_never_skips_a_file_redact_would_change(text, holds):
    """``may_hold_secrets`` lets a saved config skip its parse only when `redact` would change
    nothing; every case where redaction masks a value must say True."""
    from omegaconf import OmegaConf

    from soen_train.config.secrets import may_hold_secrets, redact

    data = OmegaConf.to_container(OmegaConf.create(text), resolve=False)
    changes = redact(data) != data
    assert may_hold_secrets(text) is holds
    assert holds or not changes


def test_secrets_never_reach_the_files_of_a_multirun(cli_here, tmp_path):
    """With -m, Hydra writes the whole config into <sweep dir>/multirun.yaml and each job's
    .hydra folder: a password from a config file or the command line is masked everywhere."""
    conf = tmp_path / "myconf"
    (conf / "experiment").mkdir(parents=True)
    (conf / "experiment" / "secret_sweep.yaml").write_text(
        "# @package _global_\n"
        "defaults:\n  - pulses\n"
        f"logging:\n  mlflow_username: alice\n  mlflow_password: {SECRET_YAML}\n"
    )
    res = cli_here("-m", "--config-dir", str(conf), *tiny(
        "+experiment=secret_sweep", "logger=tensorboard", "training.max_epochs=1",
        "hydra.sweep.dir=sweep", "training.lr=1e-3,2e-3",
        f"logging.mlflow_password={SECRET_CLI}",
    )[1:])
    assert res.code == 0, res.text[-3000:]
    assert (tmp_path / "sweep" / "multirun.yaml").is_file()
    assert len(list((tmp_path / "sweep").glob("*/soen_result.json"))) == 2
    for secret in (SECRET_CLI, SECRET_YAML):
        assert secret not in res.text
        for path in all_files(tmp_path):
            if conf not in path.parents:
                assert secret.encode() not in path.read_bytes(), (secret, path)
