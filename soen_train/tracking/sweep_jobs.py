"""Reading a Hydra multirun directory: its job folders and what each job's files say.

A multirun directory holds one sub-directory per job (``0/``, ``1/``, ...), each with
``.hydra/overrides.yaml`` (the job's command-line overrides) and ``soen_result.json`` (written
by the trainer: objective, status and per-repeat metrics). :func:`load_job` turns one such
folder into a :class:`JobResult`; a folder it cannot read becomes a failed job with the reason,
never an abort. Aggregation lives in :mod:`soen_train.tracking.sweep_stats`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import yaml

from soen_train.errors import SweepSummaryError

RESULT_FILE = "soen_result.json"
OVERRIDES_FILE = Path(".hydra") / "overrides.yaml"
# "running" is what the trainer writes between repeats: the job is still going or was killed.
STATUSES = ("completed", "failed", "pruned", "running")
DIRECTIONS = ("minimize", "maximize")


@dataclass
class JobResult:
    """One Hydra job: its overrides and what its ``soen_result.json`` says."""

    name: str
    path: Path
    overrides: Optional[List[str]]  # None when they could not be read
    status: str  # completed | failed | pruned | running
    error: Optional[str] = None
    objective_metric: Optional[str] = None
    direction: Optional[str] = None
    repeats: List[Dict[str, float]] = field(default_factory=list)  # one metrics dict per repeat


# ---------------------------------------------------------------------------- reading jobs
def find_job_dirs(multirun_dir: Path) -> List[Path]:
    """Job directories of a multirun dir, numerically ordered; a clear error otherwise."""
    if not multirun_dir.exists():
        raise SweepSummaryError(f"multirun directory '{multirun_dir}' does not exist")
    if not multirun_dir.is_dir():
        raise SweepSummaryError(f"'{multirun_dir}' is a file, not a Hydra multirun directory")
    jobs = [
        d
        for d in multirun_dir.iterdir()
        if d.is_dir() and ((d / ".hydra").is_dir() or (d / RESULT_FILE).is_file())
    ]
    if jobs:
        return sorted(
            jobs, key=lambda d: (0, int(d.name), "") if d.name.isdigit() else (1, 0, d.name)
        )
    if (multirun_dir / ".hydra").is_dir() or (multirun_dir / RESULT_FILE).is_file():
        raise SweepSummaryError(
            f"'{multirun_dir}' is a single Hydra job directory, not a multirun directory; "
            "pass the multirun directory that contains the numbered job directories (0/, 1/, ...)"
        )
    nested = sorted(
        str(d.relative_to(multirun_dir))
        for d in multirun_dir.glob("*/*")
        if d.is_dir() and ((d / ".hydra").is_dir() or (d / RESULT_FILE).is_file())
    )
    hint = ""
    if nested:
        parents = sorted({str(Path(n).parent) for n in nested})
        hint = f"; job directories were found one level down, in: {', '.join(parents[:5])}"
    raise SweepSummaryError(
        f"'{multirun_dir}' is not a Hydra multirun directory: expected job sub-directories "
        f"(0/, 1/, ...) each holding {OVERRIDES_FILE.as_posix()} and {RESULT_FILE}{hint}"
    )


def _read_overrides(job_dir: Path) -> List[str]:
    """The job's override strings from ``.hydra/overrides.yaml``, else from the result file."""
    path = job_dir / OVERRIDES_FILE
    if not path.is_file():
        return _overrides_from_result(job_dir)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{OVERRIDES_FILE.as_posix()} is not valid YAML: {exc}") from exc
    if data is None:
        return []
    if not isinstance(data, list) or not all(isinstance(o, str) for o in data):
        raise ValueError(
            f"{OVERRIDES_FILE.as_posix()} must be a YAML list of strings, got {data!r}"
        )
    return data


def _overrides_from_result(job_dir: Path) -> List[str]:
    """The ``overrides`` list the trainer also records in ``soen_result.json`` (fallback)."""
    missing = ValueError(f"no {OVERRIDES_FILE.as_posix()} (and no overrides in {RESULT_FILE})")
    try:
        data = json.loads((job_dir / RESULT_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        raise missing from None
    overrides = data.get("overrides") if isinstance(data, dict) else None
    if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
        raise missing
    return overrides


def _number(value: object, where: str) -> Optional[float]:
    """A metric value as float (None stays None); a clear error for anything else."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{where} must be a number, got {value!r}")
    return float(value)


def _parse_result(data: object) -> Dict[str, object]:
    """Validated fields of a ``soen_result.json`` document."""
    if not isinstance(data, dict):
        raise ValueError(f"{RESULT_FILE} must hold a JSON object, got {type(data).__name__}")
    status = data.get("status", "completed")
    if status not in STATUSES:
        raise ValueError(
            f"{RESULT_FILE}: status must be one of {', '.join(STATUSES)}, got {status!r}"
        )
    direction = data.get("direction")
    if direction is not None and direction not in DIRECTIONS:
        raise ValueError(
            f"{RESULT_FILE}: direction must be 'minimize' or 'maximize', got {direction!r}"
        )
    metric = data.get("objective_metric")
    if metric is not None and not isinstance(metric, str):
        raise ValueError(f"{RESULT_FILE}: objective_metric must be a string, got {metric!r}")
    objective = _number(data.get("objective"), f"{RESULT_FILE}: objective")
    raw_repeats = data.get("repeats") or []
    if not isinstance(raw_repeats, list):
        raise ValueError(f"{RESULT_FILE}: repeats must be a list, got {raw_repeats!r}")
    repeats: List[Dict[str, float]] = []
    for i, rep in enumerate(raw_repeats):
        metrics = rep.get("metrics") if isinstance(rep, dict) else None
        if not isinstance(metrics, dict):
            raise ValueError(f"{RESULT_FILE}: repeats[{i}] needs a 'metrics' object, got {rep!r}")
        values = {
            str(name): _number(val, f"{RESULT_FILE}: repeats[{i}].metrics.{name}")
            for name, val in metrics.items()
        }
        repeats.append({k: v for k, v in values.items() if v is not None})
    if not repeats and objective is not None and metric is not None:
        # A result without per-repeat figures still has its objective: count it as one sample.
        repeats = [{metric: objective}]
    error = data.get("error")
    return {
        "status": status,
        "error": None if error is None else str(error),
        "objective_metric": metric,
        "direction": direction,
        "repeats": repeats,
    }


def load_job(job_dir: Path) -> JobResult:
    """Read one job directory; problems make it a failed job with the reason, never an abort."""
    job = JobResult(name=job_dir.name, path=job_dir, overrides=None, status="failed")
    try:
        job.overrides = _read_overrides(job_dir)
    except ValueError as exc:
        job.error = str(exc)
        return job
    result_path = job_dir / RESULT_FILE
    if not result_path.is_file():
        job.error = f"no {RESULT_FILE} (the job crashed before finishing, or is still running)"
        return job
    try:
        fields = _parse_result(json.loads(result_path.read_text()))
    except json.JSONDecodeError as exc:
        job.error = f"{RESULT_FILE} is not valid JSON: {exc}"
        return job
    except ValueError as exc:
        job.error = str(exc)
        return job
    job.status = str(fields["status"])
    job.error = fields["error"]  # type: ignore[assignment]
    job.objective_metric = fields["objective_metric"]  # type: ignore[assignment]
    job.direction = fields["direction"]  # type: ignore[assignment]
    job.repeats = fields["repeats"]  # type: ignore[assignment]
    if job.status == "completed" and not job.repeats:
        job.status, job.error = "failed", f"{RESULT_FILE} reports no metrics and no objective"
    if job.status == "running":
        job.error = (
            f"unfinished: still running, or stopped without a final status "
            f"({len(job.repeats)} repeat(s) recorded)"
        )
    if job.status == "failed" and not job.error:
        job.error = f"{RESULT_FILE} reports status 'failed' without a message"
    return job
