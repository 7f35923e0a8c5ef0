"""docs/reading_runs.md examples run as written: python blocks in order, then the CLI lines."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "reading_runs.md"
FENCE = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)


def blocks(language: str) -> list:
    return [body for lang, body in FENCE.findall(DOC.read_text()) if lang == language]


def test_doc_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    python_blocks = blocks("python")
    assert len(python_blocks) >= 8
    namespace: dict = {"__name__": "reading_runs_doc"}
    for index, code in enumerate(python_blocks):
        exec(compile(code, f"{DOC.name}[python block {index}]", "exec"), namespace)
    assert (tmp_path / "sample_0.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in (tmp_path / "per_run_csv").iterdir()) == [
        "BaseModel_repeat_0_scalars.csv",
        "BaseModel_repeat_1_scalars.csv",
        "Wide_repeat_0_scalars.csv",
        "Wide_repeat_1_scalars.csv",
    ]
    best = namespace["summary"].settings[0]
    assert best.label == "training.optimizer.lr=0.01" and best.stats["val_loss"].n == 6

    commands = [
        line
        for body in blocks("bash")
        for line in body.splitlines()
        if line.startswith("soen-train-summary ")
    ]
    assert len(commands) == 3
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        PYTHONIOENCODING="utf-8",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    for command in commands:
        proc = subprocess.run(
            command,
            shell=True,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            encoding="utf-8",
        )
        assert proc.returncode == 0, f"{command}\n{proc.stdout}\n{proc.stderr}"
        assert "training.optimizer.lr=0.01" in proc.stdout
    assert (tmp_path / "demo_multirun" / "summary.png").is_file()
    assert (tmp_path / "reports" / "summary.csv").is_file()
