"""Fetch the four MNIST IDX files on first use, from a list of mirrors, each MD5-checked.

The files are fetched with ``pooch`` (the scientific-data fetcher: atomic download to a
temporary name, hash check, progress bar) into the user's ``source_dir`` and reused from
there afterwards, so a machine downloads MNIST once. A mirror that is unreachable or serves
a file with the wrong checksum is skipped for the next one; when every mirror fails the
error names the URLs tried and the folder where the user can put the files by hand.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from soen_train.data.errors import DataError

#: Public MNIST mirrors, tried in order: the S3 copy that torchvision uses, then LeCun's site.
DEFAULT_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

#: Published MD5 checksums of the gzipped IDX files.
DEFAULT_MD5: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}

log = logging.getLogger(__name__)


def _join(mirror: str, name: str) -> str:
    return mirror if mirror.endswith(name) else mirror.rstrip("/") + "/" + name


def _topmost_missing(folder: Path) -> Path | None:
    """The highest folder of ``folder``'s path that does not exist yet (None if it exists)."""
    missing = None
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            break
        missing = candidate
    return missing


def _remove_if_empty(top: Path | None, folder: Path) -> None:
    """Remove ``folder`` and its parents up to ``top`` while they are empty."""
    if top is None:
        return
    for candidate in (folder, *folder.parents):
        if not candidate.is_dir() or any(candidate.iterdir()):
            return
        candidate.rmdir()
        if candidate == top:
            return


def download_mnist(
    folder: Path,
    mirrors: Sequence[str] = DEFAULT_MIRRORS,
    md5: Mapping[str, str] = DEFAULT_MD5,
    *,
    progress: bool = True,
    timeout_s: float = 30.0,
) -> list[Path]:
    """Download every file of ``md5`` that ``folder`` lacks, trying ``mirrors`` in order.

    Args:
        folder: where the ``.gz`` files are stored (created if missing).
        mirrors: base URLs; a file's URL is ``<mirror>/<file name>``.
        md5: file name -> expected MD5 (hex). A download that does not match is deleted.
        progress: show a progress bar per file (tqdm) while downloading.
        timeout_s: network timeout per request, in seconds.

    Returns:
        The paths of the files in ``folder``, in the order of ``md5``.

    Raises:
        DataError: no mirror delivered a file; the message lists the URLs tried and the folder.
    """
    import pooch

    pooch.get_logger().setLevel(logging.WARNING)  # one line of ours per file instead of pooch's
    created = _topmost_missing(folder)
    paths: list[Path] = []
    for name, digest in md5.items():
        target = folder / name
        tried: list[str] = []
        for mirror in mirrors:
            url = _join(mirror, name)
            tried.append(url)
            if not target.is_file():
                log.info("downloading %s to %s", url, folder)
            try:
                pooch.retrieve(
                    url,
                    known_hash=f"md5:{digest}",
                    fname=name,
                    path=folder,
                    progressbar=progress,
                    downloader=pooch.HTTPDownloader(progressbar=progress, timeout=timeout_s),
                )
            except ValueError:  # pooch: the file's hash does not match; the next mirror may be right
                log.info("%s has a wrong MD5 checksum; refused", url)
                target.unlink(missing_ok=True)
                continue
            except Exception as err:  # unreachable host, HTTP error, timeout
                log.info("%s failed: %s", url, str(err).splitlines()[0][:200])
                continue
            break
        else:
            _remove_if_empty(created, folder)  # leave no empty folders behind
            raise DataError(
                f"could not download MNIST file {name} (tried {', '.join(tried) or 'no mirror'}); "
                f"put the four files {', '.join(md5)} into {folder} by hand, or set "
                "data.dataset_params.mirrors to a reachable mirror"
            )
        paths.append(target)
    return paths
