"""A file in the git-ignored conf/local/<group>/ is an option of <group> for `soen-train`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from soen_train.config.conf_dir import LOCAL_CONF_DIR

SOEN_TRAIN = str(Path(sys.executable).with_name("soen-train"))


@pytest.fixture
def local_optimizer():
    """conf/local/optimizer/<unique>.yaml for the test; removes what it created afterwards."""
    name = f"test_overlay_{os.getpid()}"
    created = [d for d in (LOCAL_CONF_DIR, LOCAL_CONF_DIR / "optimizer") if not d.exists()]
    (LOCAL_CONF_DIR / "optimizer").mkdir(parents=True, exist_ok=True)
    path = LOCAL_CONF_DIR / "optimizer" / f"{name}.yaml"
    path.write_text(
        "# @package training.optimizer\n"
        f"# soen-train experiment=pulses optimizer={name}\n"
        "name: sgd\nkwargs: {momentum: 0.875}\n"
    )
    yield name
    path.unlink()
    for folder in reversed(created):
        shutil.rmtree(folder)


def test_local_option_is_selected_on_the_command_line(local_optimizer, tmp_path):
    out = subprocess.run(
        [SOEN_TRAIN, "+experiment=pulses", f"optimizer={local_optimizer}", "--cfg", "job"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    optimizer = yaml.safe_load(out.stdout)["training"]["optimizer"]
    assert optimizer["name"] == "sgd" and optimizer["kwargs"] == {"momentum": 0.875}


def test_local_options_are_listed_on_the_search_path(local_optimizer, tmp_path):
    out = subprocess.run([SOEN_TRAIN, "--info", "searchpath"], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert f"file://{LOCAL_CONF_DIR}" in out.stdout


def test_a_missing_option_is_still_refused(tmp_path):
    out = subprocess.run(
        [SOEN_TRAIN, "+experiment=pulses", "optimizer=no_such_local_file", "--cfg", "job"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert out.returncode != 0
    assert "no_such_local_file" in out.stderr
