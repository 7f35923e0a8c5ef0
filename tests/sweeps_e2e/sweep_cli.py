"""Helpers for the sweep end-to-end tests: run the real `soen-train` command, read what it wrote.

Imported by the tests of this folder (pytest puts the folder on sys.path). Every run uses the
tiny pulses settings of tests/e2e/conftest.py, so a job trains for a second or two.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
TEMPLATES_DIR = REPO / "conf"  # the shipped `sweep` group lives in conf/sweep
SOEN_TRAIN = str(Path(sys.executable).with_name("soen-train"))
SOEN_TRAIN_SUMMARY = str(Path(sys.executable).with_name("soen-train-summary"))


def _load_tiny_args() -> list[str]:
    """TINY_PULSES_ARGS of tests/e2e/conftest.py (one definition of "tiny" for all e2e tests)."""
    spec = importlib.util.spec_from_file_location(
        "e2e_tiny_settings", REPO / "tests/e2e/conftest.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.TINY_PULSES_ARGS)


TINY_PULSES_ARGS = _load_tiny_args()


def tiny_job_args(root: Path, mlflow: bool = False) -> list[str]:
    """The tiny pulses experiment, its runs under `root/experiments`, its data in `root/data`.

    MLflow is off unless asked for: creating a fresh MLflow database costs several seconds.
    """
    args = [
        "+experiment=pulses",
        *TINY_PULSES_ARGS,
        f"logging.project_dir={root / 'experiments'}",
        f"data.data_path={root / 'data' / 'pulses.h5'}",
    ]
    return args if mlflow else [*args, "logger=tensorboard"]


def _env() -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    for name in ("SOEN_OPTUNA_STORAGE", "SOEN_OPTUNA_STUDY", "SOEN_OPTUNA_TRIAL"):
        env.pop(name, None)  # the command must not think it runs inside someone else's trial
    return env


def run_cli(
    args: Sequence[str],
    cwd: Path,
    timeout: float = 240,
    expect_ok: bool = True,
    program: str = SOEN_TRAIN,
) -> subprocess.CompletedProcess:
    """Run `soen-train args...` in `cwd` and return what it printed; fail the test on error."""
    cmd = [program, *args]
    out = subprocess.run(
        cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout, check=False
    )
    if expect_ok and out.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({out.returncode}):\n"
            f"--- stdout\n{out.stdout[-4000:]}\n--- stderr\n{out.stderr[-6000:]}"
        )
    return out


def start_cli(args: Sequence[str], cwd: Path, log_file: Path) -> subprocess.Popen:
    """Start `soen-train args...` in its own process group (so the whole sweep can be killed)."""
    handle = log_file.open("w")
    return subprocess.Popen(
        [SOEN_TRAIN, *args],
        cwd=cwd,
        env=_env(),
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the process group of a sweep started by `start_cli` and reap it."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:  # it ended between the poll and the kill
            pass
    proc.wait(timeout=30)


def count_trials(db_file: Path, state: str) -> int:
    """Trials in `state` (COMPLETE, RUNNING, ...) in an Optuna SQLite file; 0 before it exists."""
    if not db_file.is_file():
        return 0
    try:
        with sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, timeout=5) as conn:
            row = conn.execute("SELECT count(*) FROM trials WHERE state = ?", (state,)).fetchone()
    except sqlite3.OperationalError:  # the sweeper has not created the tables yet
        return 0
    return int(row[0])


def wait_for(
    predicate: Any, timeout: float, proc: subprocess.Popen | None = None, what: str = "condition"
) -> None:
    """Poll `predicate()` every 0.2 s until true; fail on timeout or when `proc` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the sweep exited (rc={proc.returncode}) before {what}")
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def load_study(storage_url: str, study_name: str) -> Any:
    """The Optuna study a sweep wrote."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name=study_name, storage=storage_url)


def job_result(job_dir: Path) -> dict[str, Any]:
    """The `soen_result.json` a job wrote in its Hydra job dir."""
    return json.loads((Path(job_dir) / "soen_result.json").read_text())


def job_dirs(sweep_dir: Path) -> list[Path]:
    """The numbered job folders of a multirun dir, by job number."""
    return sorted(
        (p for p in Path(sweep_dir).iterdir() if p.is_dir() and p.name.isdigit()),
        key=lambda p: int(p.name),
    )


def template_lines(path: Path, tag: str) -> list[str]:
    """The `# <tag>: ...` comment lines of a template file (text after the tag)."""
    prefix = f"# {tag}:"
    return [
        line[len(prefix) :].strip()
        for line in path.read_text().splitlines()
        if line.startswith(prefix)
    ]


def template_command(path: Path, tag: str = "command") -> list[str]:
    """The `soen-train` arguments of a template's `# command:` (or `# local:`) line."""
    lines = template_lines(path, tag)
    assert len(lines) == 1, f"{path.name}: expected one '# {tag}:' line, found {len(lines)}"
    words = lines[0].split()
    assert words[0] == "soen-train", f"{path.name}: the {tag} must start with soen-train"
    return words[1:]


def template_budget(path: Path) -> list[str]:
    """The overrides of a template's `# budget:` line (what makes it tiny in a test)."""
    lines = template_lines(path, "budget")
    assert len(lines) == 1, f"{path.name}: expected one '# budget:' line"
    return lines[0].split()
