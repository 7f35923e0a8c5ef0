"""Suite-wide isolation: code under test may export environment variables (secrets moved out
of the command line, MLflow credentials, DDP folder hand-over); none may leak into later tests
or the subprocesses they start."""

import os

import pytest


@pytest.fixture(autouse=True)
def _restore_environment():
    saved = dict(os.environ)
    yield
    for key in [k for k in os.environ if k not in saved]:
        del os.environ[key]
    for key, value in saved.items():
        if os.environ.get(key) != value:
            os.environ[key] = value
