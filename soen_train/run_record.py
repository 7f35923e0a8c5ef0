"""What a run needs to be reproduced: package versions, the user's git commit, the config.

Written once per job as ``run_record.json`` in the Hydra job folder and attached to every
MLflow run of the job (versions and commit as tags, the composed config already being its
params), so a result found months later can be re-run under the same conditions.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

from soen_train.config.secrets import redact

RUN_RECORD_FILE = "run_record.json"

# Distributions whose versions change the numbers a run produces.
RECORDED_PACKAGES = (
    "soen-train", "torch", "lightning", "numpy", "h5py", "hydra-core", "omegaconf",
    "optuna", "mlflow-skinny", "mlflow", "tensorboard", "safetensors", "jax", "jaxlib",
)

NO_COMMIT = "none"


def package_versions(names: Iterable[str] = RECORDED_PACKAGES) -> Dict[str, str]:
    """Installed version of each named distribution; absent ones are left out."""
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _git(args: List[str], cwd: Path) -> Optional[str]:
    """Output of one git command in ``cwd``, or None when git or the repository is missing."""
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_state(directory: Path) -> Dict[str, Any]:
    """Commit and dirty flag of the git repository holding ``directory`` (commit "none" outside one).

    This is the user's project (the working directory of the run), not soen_train itself.
    """
    commit = _git(["rev-parse", "HEAD"], directory)
    if not commit:
        return {"commit": NO_COMMIT, "dirty": False, "root": None}
    status = _git(["status", "--porcelain", "--untracked-files=no"], directory)
    return {"commit": commit, "dirty": bool(status), "root": _git(["rev-parse", "--show-toplevel"], directory)}


def build_run_record(cfg: Any, working_dir: Optional[Path] = None,
                     overrides: Optional[List[str]] = None) -> Dict[str, Any]:
    """The record of one job: versions, git state of ``working_dir`` (default: cwd), command line
    overrides and the composed config with every secret masked."""
    where = Path(working_dir or Path.cwd())
    config = dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else dict(cfg)
    return {
        "packages": package_versions(),
        "platform": platform.platform(),
        "python_executable": sys.executable,
        "working_dir": str(where.resolve()),
        "git": git_state(where),
        "overrides": redact_overrides(overrides or []),
        "config": redact(config),
    }


def redact_overrides(overrides: List[str]) -> List[str]:
    """Command-line overrides with the value of any secret-looking key masked."""
    from soen_train.config.secrets import MASK, is_secret_key

    out = []
    for item in overrides:
        key, sep, _ = item.partition("=")
        out.append(f"{key}={MASK}" if sep and is_secret_key(key.lstrip("+~")) else item)
    return out


def write_run_record(job_dir: Path, record: Dict[str, Any]) -> Path:
    """Write ``run_record.json`` in ``job_dir`` (atomically: a crash never leaves half a file)."""
    from soen_train.training.checkpointing import atomic_replace_write

    path = Path(job_dir) / RUN_RECORD_FILE
    text = json.dumps(record, indent=2, sort_keys=True, default=str)
    atomic_replace_write(path, lambda tmp: Path(tmp).write_text(text))
    return path


def run_record_tags(record: Dict[str, Any]) -> Dict[str, str]:
    """MLflow tags of a record: `soen.version.<package>`, `soen.git_commit`, `soen.git_dirty`."""
    tags = {f"soen.version.{name}": str(version) for name, version in record["packages"].items()}
    tags["soen.git_commit"] = str(record["git"]["commit"])
    tags["soen.git_dirty"] = str(record["git"]["dirty"]).lower()
    tags["soen.platform"] = str(record["platform"])
    return tags


def log_run_record(loggers: Iterable[Any], record: Dict[str, Any]) -> None:
    """Attach the record to every MLflow-like logger of a repeat (tags + the JSON as artifact text)."""
    tags = run_record_tags(record)
    for lgr in loggers:
        if hasattr(lgr, "log_run_tags"):  # the local fallback logger keeps them in its file
            lgr.log_run_tags(tags)
            continue
        client, run_id = getattr(lgr, "experiment", None), getattr(lgr, "run_id", None)
        if run_id is None or not hasattr(client, "set_tag"):
            continue
        for key, value in tags.items():
            client.set_tag(run_id, key, value)
        client.log_text(run_id, json.dumps(record, indent=2, sort_keys=True, default=str), RUN_RECORD_FILE)
