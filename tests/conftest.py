"""Suite-wide isolation: code under test may export environment variables (secrets moved out
of the command line, MLflow credentials, DDP folder hand-over); none may leak into later tests
or the subprocesses they start."""

import hashlib
import http.server
import os
import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from soen_train.data.idx_format import write_idx


@pytest.fixture(autouse=True)
def _restore_environment():
    saved = dict(os.environ)
    yield
    for key in [k for k in os.environ if k not in saved]:
        del os.environ[key]
    for key, value in saved.items():
        if os.environ.get(key) != value:
            os.environ[key] = value


# MNIST mirror on 127.0.0.1 (real HTTP server) for the download tests
NAMES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}


def write_fake_mnist(folder: Path, n_train: int = 40, n_test: int = 20) -> dict[str, str]:
    """Four gzipped IDX files in ``folder``; returns file name -> MD5."""
    rng = np.random.default_rng(3)
    arrays = {
        "x_train": rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        "y_train": (np.arange(n_train) % 10).astype(np.uint8),
        "x_test": rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        "y_test": (np.arange(n_test) % 10).astype(np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    md5 = {}
    for key, name in NAMES.items():
        path = write_idx(folder / name, arrays[key])
        md5[name] = hashlib.md5(path.read_bytes()).hexdigest()
    return md5


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def mnist_mirror(tmp_path):
    """A real HTTP server on 127.0.0.1 serving ``tmp_path/served``; yields (url, md5, hits)."""
    served = tmp_path / "served"
    md5 = write_fake_mnist(served)
    hits: list[str] = []

    class Handler(_QuietHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(served), **kwargs)

        def do_GET(self):
            hits.append(self.path)
            super().do_GET()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", md5, hits, served
    server.shutdown()
    server.server_close()


@pytest.fixture
def dead_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"
