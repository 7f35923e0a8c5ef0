"""Runs bad-input cases through `soen_train.cli.main` in one process, as the console script
would (same argv, same exit path), and writes what each did as JSON lines.

Usage: python driver.py INPUTS_DIR WORK_DIR CASE_ID:MODE ... > results.jsonl
MODE is `single` or `multi`. Each case runs in its own empty working folder under WORK_DIR;
the record says whether torch/Lightning got imported by that case and which files appeared.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cases import CASES  # noqa: E402


def _tree(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*")}


def run_case(case_id: str, mode: str, inputs: Path, work: Path) -> dict:
    from soen_train.cli import main

    case = next(c for c in CASES if c.id == case_id)
    here = work / f"{case_id}-{mode}"
    here.mkdir(parents=True)
    argv = case.argv(inputs, multirun=(mode == "multi"))
    before_inputs = _tree(inputs)
    had = {m for m in ("torch", "lightning") if m in sys.modules}
    err, out = io.StringIO(), io.StringIO()
    os.chdir(here)
    sys.argv = ["soen-train", *argv]
    code = 0
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            main(list(argv))
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except BaseException as exc:  # noqa: BLE001 - reported, the test fails on it
        code = -1
        err.write(f"{type(exc).__name__}: {exc}\n")
    finally:
        os.chdir(work)
    return {
        "id": case_id, "mode": mode, "argv": argv, "code": code,
        "err": err.getvalue(), "out": out.getvalue()[-2000:],
        "imported": sorted({m for m in ("torch", "lightning") if m in sys.modules} - had),
        "written": sorted(str(p.relative_to(here)) for p in here.rglob("*")),
        "inputs_changed": _tree(inputs) != before_inputs,
    }


def main() -> None:
    inputs, work = Path(sys.argv[1]), Path(sys.argv[2])
    for spec in sys.argv[3:]:
        case_id, mode = spec.split(":")
        print(json.dumps(run_case(case_id, mode, inputs, work)), flush=True)


if __name__ == "__main__":
    main()
