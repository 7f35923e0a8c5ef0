"""Every bad input of the table stops `soen-train` with one `Error:` line and exit 2, in a
single run and in a `-m` sweep, before any setup: nothing trained, nothing written.

The whole table runs through the CLI's `main()` in one child process (the console script's
code path, minus interpreter start-up); catalog-free checks must not import torch or
Lightning. A representative subset also runs as separate `soen-train` processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cases import CASES, CATALOG, NO_GPU, NOT_ROOT, Case  # noqa: E402
from make_inputs import make_inputs  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SOEN_TRAIN = str(Path(sys.executable).with_name("soen-train"))
HAS_GPU = any(Path("/dev").glob("nvidia[0-9]*"))
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
MODES = ("single", "multi")


def _applies(case: Case) -> bool:
    return not ((NO_GPU in case.tags and HAS_GPU) or (NOT_ROOT in case.tags and IS_ROOT))


ACTIVE = [c for c in CASES if _applies(c)]


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOEN_SECRET_", "MLFLOW_"))}
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""))
    return env


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_inputs(tmp_path_factory.mktemp("bad_files"))


@pytest.fixture(scope="module")
def results(inputs: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Every (case, mode) run in one child process; catalog cases last (they import torch)."""
    work = tmp_path_factory.mktemp("work")
    order = sorted(ACTIVE, key=lambda c: CATALOG in c.tags)
    specs = [f"{c.id}:{m}" for c in order for m in MODES]
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("driver.py")), str(inputs), str(work), *specs],
        capture_output=True, text=True, env=_env(), timeout=1200,
    )
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == len(specs), proc.stderr[-3000:]
    return {(r["id"], r["mode"]): r for r in rows}


def test_the_table_is_big_enough():
    assert len(CASES) >= 60
    kinds = {"override": 0, "ckpt": 0, "soen": 0, "h5": 0, "yaml": 0, "folder": 0}
    for c in CASES:
        text = " ".join(c.args)
        kind = ("ckpt" if ".ckpt" in text else "soen" if ".soen" in text else "h5" if ".h5" in text
                else "yaml" if ".yaml" in text or "--config-dir" in text
                else "folder" if "dir=" in text else "override")
        kinds[kind] += 1
    assert all(n >= 4 for n in kinds.values()), kinds


def _assert_one_line_error(row: dict, expected: str) -> None:
    lines = [ln for ln in row["err"].splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("Error:")]
    assert row["code"] == 2, (row["argv"], row["code"], row["err"][-2000:])
    assert len(errors) == 1 and len(lines) == 1, row["err"][-2000:]
    assert "Traceback" not in row["err"] + row["out"]
    assert expected in errors[0], (expected, errors[0])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", ACTIVE, ids=[c.id for c in ACTIVE])
def test_bad_input_is_one_line_before_any_work(case: Case, mode: str, results: dict, inputs: Path):
    row = results[(case.id, mode)]
    _assert_one_line_error(row, case.expected(inputs))
    # nothing trained and nothing written: the check came before Hydra made the run folder
    assert row["written"] == [], row["written"]
    assert not row["inputs_changed"]
    if CATALOG not in case.tags:  # answered before torch and Lightning were imported
        assert row["imported"] == [], row["imported"]


SUBPROCESS_SUBSET = [
    "plus_training_key", "lr_inf", "unknown_loss_option", "int_from_text", "ckpt_truncated",
    "soen_spec_dim_15000", "arch_yaml_duplicate_key", "config_python_tag", "h5_uint8_255",
    "objective_unknown", "run_dir_under_file", "pooling_typo",
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case_id", SUBPROCESS_SUBSET)
def test_bad_input_through_the_console_script(case_id: str, mode: str, inputs: Path, tmp_path: Path):
    case = next(c for c in CASES if c.id == case_id)
    proc = subprocess.run([SOEN_TRAIN, *case.argv(inputs, multirun=(mode == "multi"))], cwd=tmp_path,
                          capture_output=True, text=True, env=_env(), timeout=300)
    row = {"argv": case.argv(inputs, mode == "multi"), "code": proc.returncode, "err": proc.stderr,
           "out": proc.stdout}
    _assert_one_line_error(row, case.expected(inputs))
    assert list(tmp_path.rglob("*")) == []
