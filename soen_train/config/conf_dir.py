"""Where soen-train's Hydra config groups are, and the user's own overlay next to them.

The groups live in the repository's top-level ``conf/``; the wheel ships the same files as the
package ``soen_train.conf`` (``package-dir`` in pyproject.toml). So an installed soen-train
reads ``<site-packages>/soen_train/conf`` and a source checkout (editable install, or
``PYTHONPATH`` on the repository) reads ``<repo>/conf``.

``conf/local/`` is the git-ignored overlay: ``conf/local/<group>/<name>.yaml`` is one more
option of ``<group>`` (``soen-train <group>=<name>``), found through Hydra's config search path
(``hydra_plugins/soen_local_conf``). It is never shipped in the wheel.
"""

from __future__ import annotations

from pathlib import Path

PRIMARY_CONFIG = "train"
_PACKAGE_DIR = Path(__file__).resolve().parents[1]


def _find_conf_dir() -> Path:
    """The folder holding ``train.yaml``: the installed package's copy, else the checkout's."""
    for folder in (_PACKAGE_DIR / "conf", _PACKAGE_DIR.parent / "conf"):
        if (folder / f"{PRIMARY_CONFIG}.yaml").is_file():
            return folder
    raise FileNotFoundError(
        f"soen-train's config groups are missing: no {PRIMARY_CONFIG}.yaml in "
        f"{_PACKAGE_DIR / 'conf'} (installed) or {_PACKAGE_DIR.parent / 'conf'} (checkout)"
    )


CONF_DIR: Path = _find_conf_dir()
LOCAL_CONF_DIR: Path = CONF_DIR / "local"
