"""Opens a resume checkpoint before anything is built: exists, not empty, an intact archive.

Lightning checkpoints are ``torch.save`` zip archives; each member carries a CRC, so reading
the archive once (no torch needed) finds a truncated copy, a zero-byte file left by a crash
or a corrupted byte, instead of a traceback minutes into setup.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from soen_train.config.errors import ConfigError

FIX = "resume from an earlier checkpoint (the epoch checkpoints beside it) or start afresh"


def check_checkpoint_file(path_text: str, key: str, torch_format: bool = True) -> None:
    """A ConfigError naming ``key`` and the file if it cannot be a readable checkpoint.

    ``torch_format``: expect a torch-saved archive (``data.pkl`` inside); JAX checkpoints are
    ``.npz`` archives, which are zip files too.
    """
    path = Path(path_text)
    if not path.exists():
        raise ConfigError(f"{key}: file not found: {path}")
    if path.is_dir():
        raise ConfigError(f"{key}: {path} is a folder; give the checkpoint file (e.g. last.ckpt)")
    size = path.stat().st_size
    if size == 0:
        raise ConfigError(f"{key}: {path} is empty (0 bytes), left by an interrupted save; {FIX}")
    if not zipfile.is_zipfile(path):
        raise ConfigError(
            f"{key}: {path} ({size} bytes) is not a checkpoint archive: it is truncated, "
            f"damaged or not a checkpoint; {FIX}"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise ConfigError(f"{key}: {path} is damaged ({err}); {FIX}") from None
    if bad is not None:
        raise ConfigError(f"{key}: {path} is damaged (member {bad} fails its checksum); {FIX}")
    if torch_format and not any(n.endswith("data.pkl") for n in names):
        raise ConfigError(
            f"{key}: {path} is a zip archive but not a PyTorch checkpoint (no data.pkl inside)"
        )
