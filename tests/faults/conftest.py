"""Shared helpers of the fault tests: the real `soen-train` command on tiny data, killed for real.

The sweep helpers of tests/sweeps_e2e/sweep_cli.py are reused (loaded by path, so this folder
does not depend on pytest's sys.path order).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("sweep_cli", _HERE.parent / "sweeps_e2e" / "sweep_cli.py")
assert _spec is not None and _spec.loader is not None
sweep_cli = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("sweep_cli", sweep_cli)
_spec.loader.exec_module(sweep_cli)
