"""Every shipped config file says, in its first comment lines, the command that runs it."""

from __future__ import annotations

import re
from pathlib import Path

from soen_train.config.conf_dir import CONF_DIR, LOCAL_CONF_DIR, PRIMARY_CONFIG


def _shipped_yaml() -> list[Path]:
    return sorted(p for p in CONF_DIR.rglob("*.yaml") if LOCAL_CONF_DIR not in p.parents)


def _header(path: Path) -> list[str]:
    """The leading comment lines (before the first YAML line)."""
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return lines


def _selection(path: Path) -> str:
    """What selects the file on the command line: ``group=name``, or nothing for train.yaml."""
    relative = path.relative_to(CONF_DIR).with_suffix("")
    if relative.as_posix() == PRIMARY_CONFIG:
        return ""
    return f"{relative.parent.as_posix().replace('/', '.')}={relative.name}"


def test_conf_holds_the_groups():
    assert (CONF_DIR / f"{PRIMARY_CONFIG}.yaml").is_file()
    assert len(_shipped_yaml()) >= 40


def test_every_config_file_names_the_command_that_runs_it():
    missing = []
    for path in _shipped_yaml():
        selection = _selection(path)
        wanted = rf".*(?<![\w.])\+?{re.escape(selection)}\b" if selection else ""
        pattern = re.compile(r"^#\s*(command:\s*)?`?([A-Z_]+=\S+\s+)?soen-train\b" + wanted)
        if not any(pattern.search(line) for line in _header(path)):
            missing.append(f"{path.relative_to(CONF_DIR)} (wants `soen-train ... {selection}`)")
    assert not missing, "config files whose header names no command that runs them: " + ", ".join(missing)
