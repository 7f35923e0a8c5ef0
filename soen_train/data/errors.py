"""The one error type of the data package.

Every problem with a dataset file or a ``data`` config value is raised as ``DataError``; its
message names the file, the HDF5 group/key or config key, the offending value and what would
be valid, so the CLI can print it as a single line.
"""

from __future__ import annotations

from soen_train.errors import DataError

__all__ = ["DataError"]

