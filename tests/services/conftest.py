"""Fixtures for the tests that talk to real services (SLURM, PostgreSQL, an MLflow server).

`make services` (tests/services/start.sh) starts them and writes their addresses to
``$SOEN_SERVICES_DIR/services.env`` (default /tmp/soen_services). A service that is not
there skips its tests with the reason, except with CI=true, where the test fails instead
(CI must never silently skip them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sweeps_e2e"))  # sweep_cli helpers

SERVICES_DIR = Path(os.environ.get("SOEN_SERVICES_DIR", "/tmp/soen_services"))
ENV_FILE = SERVICES_DIR / "services.env"


def read_services_env() -> dict[str, str]:
    """The KEY=value lines start.sh wrote (empty when it never ran)."""
    if not ENV_FILE.is_file():
        return {}
    out = {}
    for line in ENV_FILE.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            out[key] = value.strip('"')
    return out


def _unavailable(service: str, why: str) -> None:
    env = read_services_env()
    problem = env.get("SOEN_SERVICES_PROBLEM", "")
    reason = f"{service} not available: {why}" + (f" (start.sh: {problem})" if problem else "")
    reason += "; start it with `make services`"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def slurm() -> dict[str, str]:
    """The one-node cluster: its partition and job-completion file."""
    env = read_services_env()
    if "SOEN_SLURM_JOBCOMP" not in env:
        _unavailable("SLURM", f"no SOEN_SLURM_JOBCOMP in {ENV_FILE}")
    if shutil.which("sinfo") is None:
        _unavailable("SLURM", "no sinfo on PATH")
    out = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True)
    if out.returncode != 0 or not out.stdout.strip().startswith(("idle", "mixed", "alloc")):
        _unavailable("SLURM", f"sinfo says {out.stdout.strip() or out.stderr.strip()!r}")
    return {"jobcomp": env["SOEN_SLURM_JOBCOMP"], "partition": env["SOEN_SLURM_PARTITION"]}


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A SQLAlchemy URL of the Optuna database (password included)."""
    env = read_services_env()
    url = env.get("SOEN_PG_OPTUNA_URL")
    if not url:
        _unavailable("PostgreSQL", f"no SOEN_PG_OPTUNA_URL in {ENV_FILE}")
    import sqlalchemy

    try:
        with sqlalchemy.create_engine(url).connect() as conn:
            conn.execute(sqlalchemy.text("select 1"))
    except Exception as err:  # noqa: BLE001
        _unavailable("PostgreSQL", f"{type(err).__name__}: {str(err).splitlines()[0]}")
    return url


@pytest.fixture(scope="session")
def mlflow_server() -> dict[str, str]:
    """The tracking server's URI, its admin credentials and its stores."""
    env = read_services_env()
    uri = env.get("SOEN_MLFLOW_URI")
    if not uri:
        _unavailable("MLflow server", f"no SOEN_MLFLOW_URI in {ENV_FILE}")
    try:
        urllib.request.urlopen(uri + "/health", timeout=5)
    except OSError as err:
        _unavailable("MLflow server", f"{uri}/health: {err}")
    return {"uri": uri, "user": env["SOEN_MLFLOW_ADMIN_USER"],
            "password": env["SOEN_MLFLOW_ADMIN_PASSWORD"],
            # what a second server on the same stores needs (tests that stop their own server)
            "backend": env["SOEN_MLFLOW_BACKEND"], "artifacts": env["SOEN_MLFLOW_ARTIFACTS"],
            "auth_config": env["SOEN_MLFLOW_AUTH_CONFIG"], "secret_file": env["SOEN_MLFLOW_SECRET_FILE"]}

