"""Every command shown in docs/coming_from_soen_toolkit.md runs (tiny data), and its key table
agrees with the alias table soen-train uses."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

from conftest import SOEN_TRAIN, SOEN_TRAIN_JAX
from original_pickles import write_original_pickle

from soen_train.config.guide_aliases import KEY_ALIASES
from soen_train.jax.original_checkpoint import migrate_pickle

DOC = Path(__file__).resolve().parents[2] / "docs" / "coming_from_soen_toolkit.md"


def _blocks(language: str) -> list:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.S)


def _commands() -> list:
    lines = []
    for block in _blocks("bash"):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words:
                lines.append(words)
    return lines


def test_every_shown_command_runs(project):
    repeat = project.root / "checkpoints" / "repeat_0"
    repeat.mkdir(parents=True)
    write_original_pickle(repeat / "last.pkl")
    write_original_pickle(project.root / "full.pkl")
    migrate_pickle(project.root / "full.pkl", project.root / "model")  # the model of old.pkl
    write_original_pickle(project.root / "old.pkl", with_model=False)
    commands = _commands()
    assert len(commands) >= 12
    tools = {"soen-train": SOEN_TRAIN, "soen-train-jax": SOEN_TRAIN_JAX}
    for words in commands:
        assert words[0] in tools, words
        extra = ["logging.progress_bar=false"] if _trains(words) else []
        project.run(*words[1:], *extra, tool=tools[words[0]])
    assert (project.root / "conf" / "experiment" / "pulse_run.yaml").is_file()
    assert (repeat / "last.jax.npz").is_file() and (project.root / "old.jax.npz").is_file()
    assert len(list((project.root / "multirun").glob("*/*/*/soen_result.json"))) == 4  # 2 grid + 2 Optuna
    for block in _blocks("python"):
        out = subprocess.run([sys.executable, "-c", block], cwd=project.root, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr[-3000:]
        assert out.stdout.split()[:2] == ["5", "250"]


def _trains(words: list) -> bool:
    """soen-train commands that compose a job (not --cfg, not --save-experiment)."""
    return words[0] == "soen-train" and "--cfg" not in words and "--save-experiment" not in words


def test_key_table_lists_every_alias():
    text = DOC.read_text()
    for old, new in KEY_ALIASES.items():
        assert f"`{old}`" in text or old.rsplit(".", 1)[-1] in text, old
        assert new.split(".")[-1] in text, new
