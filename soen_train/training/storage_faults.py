"""A run that cannot write (full disk, read-only or lost folder) ends in one line, not a traceback.

Writes fail deep inside Lightning, torch.save, TensorBoard or MLflow, each wrapping the
operating system's error in its own way: a plain ``OSError`` (ENOSPC, EDQUOT, EROFS, EACCES,
EPERM) or torch's ``RuntimeError: ... file write failed``.
``storage_fault`` recognises them anywhere in an exception's chain and names the path and what
to do. The runner raises the result as a ``StorageError`` (a ``SOENError``), so the CLI prints
it as its one ``Error:`` line after the run's loggers were closed as FAILED.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path
from typing import Iterator, Optional

from soen_train.errors import StorageError

#: errno -> what the operating system said, in words a user acts on.
_WRITE_ERRNOS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}
#: What torch's C++ writer says when the underlying write failed (it drops the errno).
_TORCH_WRITE_FAILURES = (
    "file write failed", "unexpected pos", "No space left on device", "basic_ios::clear: iostream error",
)


def _chain(err: BaseException) -> Iterator[BaseException]:
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


def storage_fault(err: BaseException, folder: Path) -> Optional[StorageError]:
    """The one-line error for a failed write somewhere in ``err``'s chain, else None.

    Args:
        err: what the run raised.
        folder: the run's output folder (``logging.project_dir``), named when the error does
            not carry a file name.
    """
    for cause in _chain(err):
        if isinstance(cause, OSError) and cause.errno in _WRITE_ERRNOS:
            path = cause.filename or folder
            return StorageError(_message(path, _WRITE_ERRNOS[cause.errno]))
        if isinstance(cause, RuntimeError) and any(s in str(cause) for s in _TORCH_WRITE_FAILURES):
            return StorageError(_message(folder, _why_torch_write_failed(folder)))
    return None


def _why_torch_write_failed(folder: Path) -> str:
    """torch drops the errno: look at the folder's file system to say which it was."""
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    try:
        full = existing is not None and shutil.disk_usage(existing).free < 1 << 20
    except OSError:
        full = False
    return "no space left on the device" if full else "a checkpoint write failed"


def _message(path: object, what: str) -> str:
    return (
        f"cannot write to {path}: {what}; the checkpoints and logs written before are kept; "
        "free space (or make the folder writable) and resume with "
        "training.train_from_checkpoint=<its last.ckpt>, or choose another logging.project_dir"
    )
