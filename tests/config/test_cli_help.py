"""`soen-train --help` lists every config group with its options, without importing torch."""

import subprocess
import sys
from pathlib import Path

SOEN_TRAIN = str(Path(sys.executable).with_name("soen-train"))


def test_help_lists_groups_and_options():
    out = subprocess.run([SOEN_TRAIN, "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for line in (
        "optimizer: adam, adamw, lion, rmsprop, sgd",
        "time_pooling: ewa, final, max, mean, mean_last_n, mean_range, rms",
        "lr_scheduler: adaptive, constant, cosine, greedy, linear, rex",
        "logger: both, mlflow, mlflow_server, tensorboard",
        "experiment: digits, mnist, mnist1d, pulsenet, pulses",
    ):
        assert line in text, line


def test_secret_override_never_reaches_hydra_files(tmp_path):
    out = subprocess.run(
        [SOEN_TRAIN, "+experiment=pulses", "logging.mlflow_password=hunter2", "--cfg", "job"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "hunter2" not in out.stdout + out.stderr
