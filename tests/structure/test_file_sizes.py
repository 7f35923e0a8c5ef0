"""No file of ``soen_train`` over 500 lines (counted like ``wc -l``): split along a real seam."""

from __future__ import annotations

from pathlib import Path
from typing import Dict

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "soen_train"
MAX_LINES = 500

def line_counts() -> Dict[str, int]:
    """Every ``.py`` file of the package (relative path) -> its number of lines."""
    return {
        path.relative_to(PACKAGE_DIR).as_posix(): path.read_bytes().count(b"\n")
        for path in sorted(PACKAGE_DIR.rglob("*.py"))
    }


def test_the_count_sees_the_package():
    counts = line_counts()
    assert "cli.py" in counts and counts["cli.py"] > 10
    assert sum(counts.values()) > 10_000


def test_no_file_over_the_limit():
    over = {p: n for p, n in line_counts().items() if n > MAX_LINES}
    assert not over, f"files over {MAX_LINES} lines (split them along a real seam): {over}"
