"""The tier lists of tests/conftest.py name real directories, files and tests (no stale entry
that would silently move a test into `make test-fast`), and the tier rule reads them."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parents[1]


def _root_conftest():
    # loaded by path: `from conftest import` is ambiguous with several conftest.py files
    spec = importlib.util.spec_from_file_location("tests_tiers_conftest", TESTS_DIR / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _test_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}


def test_listed_directories_files_and_tests_exist():
    tiers = _root_conftest()
    missing = [d for d in tiers.TIER_BY_DIR if not (TESTS_DIR / d).is_dir()]
    missing += [f for f in tiers.SLOW_FILES if not (TESTS_DIR / f).is_file()]
    for entry in tiers.SLOW_TESTS:
        path, name = entry.split("::")
        if not (TESTS_DIR / path).is_file() or name not in _test_functions(TESTS_DIR / path):
            missing.append(entry)
    assert not missing, f"tests/conftest.py tier lists name what does not exist: {missing}"


def test_tier_rule():
    tiers = _root_conftest()
    assert tiers.tier_of(Path("e2e/test_experiments.py"), "test_x") == "e2e"
    assert tiers.tier_of(Path("services/test_slurm.py"), "test_x") == "services"
    assert tiers.tier_of(Path("jax/test_jax_parity.py"), "test_x") == "slow"
    assert tiers.tier_of(Path("config/test_schema.py"), "test_cfg_job_does_not_import_torch") == "slow"
    assert tiers.tier_of(Path("config/test_schema.py"), "test_override_types_are_checked") is None
    assert tiers.tier_of(Path("structure/test_file_sizes.py"), "test_x") is None
