"""Puts the user's git-ignored ``conf/local/`` overlay on soen-train's config search path.

Hydra discovers this plugin by itself (any module under ``hydra_plugins``); it adds
``conf/local`` after soen-train's own config folder, so a file
``conf/local/<group>/<name>.yaml`` is selected with ``<group>=<name>`` like a shipped option.
A shipped option of the same name comes first and wins: pick a new name. Other Hydra apps in
the same environment are left alone (the path is added only when soen-train's ``conf/`` is
already on the search path).
"""

from __future__ import annotations

from pathlib import Path

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin

PROVIDER = "soen-train-local"


def _is_soen_conf(path: str, conf_dir: Path) -> bool:
    """Whether one search-path entry (``file://...`` or ``pkg://...``) is soen-train's conf."""
    if path.startswith("pkg://"):
        return path[len("pkg://"):].strip("/") == "soen_train.conf"
    folder = path[len("file://"):] if path.startswith("file://") else path
    try:
        return Path(folder).resolve() == conf_dir.resolve()
    except OSError:
        return False


class SOENLocalConfSearchPath(SearchPathPlugin):
    """Appends ``conf/local`` to the search path of soen-train's compositions."""

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        """Add the overlay once, after the existing entries, when soen-train's conf is there
        and the overlay exists (Hydra warns about a search-path folder that does not)."""
        from soen_train.config.conf_dir import CONF_DIR, LOCAL_CONF_DIR

        entries = search_path.get_path()
        if any(e.provider == PROVIDER for e in entries):
            return
        if LOCAL_CONF_DIR.is_dir() and any(_is_soen_conf(e.path or "", CONF_DIR) for e in entries):
            search_path.append(provider=PROVIDER, path=f"file://{LOCAL_CONF_DIR}")
