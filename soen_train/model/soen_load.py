"""Load a ``SOENModel`` from either kind of ``.soen``: ours (safetensors) or the original's.

The one entry point that needs both the model class and the file readers, kept apart from
``soen_file`` (the format) and ``network`` (the class) so that neither imports the other's
user.
"""

from __future__ import annotations

from pathlib import Path

from .network import SOENModel
from .soen_file import PathLike, is_original_file


def load_any_model(path: PathLike) -> SOENModel:
    """A model from either kind of ``.soen``: ours (safetensors) or the original toolkit's.

    The original's files are torch zips or pickles; they are imported with
    ``SOENModel.import_original`` (never executing their code). Everything else is read as
    ours with ``SOENModel.load``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    if is_original_file(path):
        return SOENModel.import_original(path)
    return SOENModel.load(path)
