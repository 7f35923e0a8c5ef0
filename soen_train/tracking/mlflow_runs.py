"""MLflow wiring: where runs are stored, credentials, and the parent run of a sweep.

Default store: an embedded SQLite database `mlflow.db` in the `project_<name>` folder (MLflow 3
refuses plain `file:` stores, so a `file:` URI given by the user is allowed explicitly).
Credentials come from the config or the environment and are never logged.

The store is created once under a file lock (two first runs on a new project folder would
otherwise both create MLflow's tables and one would crash). Every run carries the host, pid and
process start time of the process that writes it, so a later run finds runs whose process was
killed (still RUNNING, process gone) and ends them KILLED.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence

log = logging.getLogger("soen_train")

PARENT_ID_FILE = "mlflow_parent_run_id"
SWEEP_TAG = "soen.sweep_dir"
HOST_TAG, PID_TAG, PID_START_TAG = "soen.host", "soen.pid", "soen.pid_start"
_READY_STORES: set = set()


def resolve_tracking_uri(configured: Optional[str], project_root: Path) -> str:
    """The tracking URI to use: the config's, else MLFLOW_TRACKING_URI, else the embedded store."""
    uri = configured or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        project_root.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(project_root / 'mlflow.db').resolve()}"
    if uri.startswith("file:") or "://" not in uri:
        # the guide's `file:./mlruns` stores: MLflow 3 needs an explicit opt-in for them
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return uri


def local_artifact_location(tracking_uri: str, project_root: Path) -> Optional[str]:
    """Where a new experiment of a local store keeps its artifacts: beside the store, under the
    project folder (MLflow's own default is ./mlruns in whatever folder the run started from).
    None for a tracking server, which decides itself."""
    if tracking_uri.startswith(("http://", "https://", "databricks")):
        return None
    return (project_root.resolve() / "mlartifacts").as_uri()


#: Overrides that do not tell runs apart in a run name (the experiment and group are named anyway).
_UNNAMED_OVERRIDE_PREFIXES = ("experiment=", "logging.", "hydra.", "hparams_search=")
MAX_RUN_NAME = 250


def run_display_name(
    experiment: str, group: str, overrides: Sequence[str], repeat_folder: str,
    job_num: Optional[int] = None,
) -> str:
    """A run name that says what the run is: ``experiment/group/<overrides>/repeat_k``
    (``job<n>`` in front for a job of a sweep), at most MAX_RUN_NAME characters.

    Args:
        experiment: the experiment name.
        group: the run group.
        overrides: the command-line overrides (bookkeeping ones are left out of the name).
        repeat_folder: the repeat's folder name (``repeat_k``).
        job_num: the job's number in a sweep, or None for a single run.
    """
    shown = [o for o in overrides if not o.lstrip("+~").startswith(_UNNAMED_OVERRIDE_PREFIXES)]
    parts = [experiment, group, *([" ".join(shown)] if shown else []), repeat_folder]
    name = "/".join(parts)
    if job_num is not None:
        name = f"job{job_num} {name}"
    return name if len(name) <= MAX_RUN_NAME else name[: MAX_RUN_NAME - 1] + "…"
def ensure_store(uri: str) -> None:
    """Create a local SQLite store's tables once, under a lock next to the database file.

    MLflow creates missing tables when a client first opens the database; two processes doing
    that at once race (`table ... already exists`). Later calls in the process return at once."""
    if uri in _READY_STORES or not uri.startswith("sqlite:///"):
        return
    from mlflow.tracking import MlflowClient

    db = Path(uri[len("sqlite:///"):].split("?", 1)[0])
    with _locked(db.with_name(f".{db.name}.lock")):
        MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
    _READY_STORES.add(uri)


def _process_start(pid: int) -> str:
    """Start time of a process in clock ticks since boot ('' where /proc is not available)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[19]


def process_tags() -> Dict[str, str]:
    """Tags naming the process that writes a run (host, pid, process start time)."""
    pid = os.getpid()
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(pid), PID_START_TAG: _process_start(pid)}


def _process_gone(tags: Dict[str, str]) -> bool:
    """True when the tagged writer process ran on this host and no longer exists."""
    if tags.get(HOST_TAG) != socket.gethostname() or not str(tags.get(PID_TAG, "")).isdigit():
        return False
    pid = int(tags[PID_TAG])
    if pid == os.getpid():
        return False
    start = _process_start(pid)
    return start == "" or (bool(tags.get(PID_START_TAG)) and start != tags[PID_START_TAG])


def end_orphaned_runs(tracking_uri: str, experiment_name: str) -> List[str]:
    """End KILLED every RUNNING run of the experiment whose writer process is gone; their ids.

    Only runs written on this host are judged (a pid means nothing on another machine)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    exp = client.get_experiment_by_name(experiment_name)
    if exp is None:
        return []
    ended = []
    runs = client.search_runs([exp.experiment_id], "attributes.status = 'RUNNING'", max_results=5000)
    for run in runs:
        if _process_gone(run.data.tags):
            client.set_tag(run.info.run_id, "soen.state", "KILLED")
            client.set_terminated(run.info.run_id, "KILLED")
            ended.append(run.info.run_id)
    if ended:
        log.info("MLflow runs %s were left RUNNING by a killed process; marked KILLED", ended)
    return ended


def continue_run(tracking_uri: str, run_id: str) -> bool:
    """Mark an existing run RUNNING again, owned by this process; False when it does not exist."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    try:
        client.get_run(run_id)
    except MlflowException:
        return False
    client.update_run(run_id, status="RUNNING")
    for key, value in process_tags().items():
        client.set_tag(run_id, key, value)
    return True


def new_params(tracking_uri: str, run_id: str, params: Dict[str, Any]) -> Dict[str, Any]:
    """The params a continued run does not hold yet; changed ones become `soen.resumed.<key>` tags.

    MLflow params cannot change once logged."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    stored = client.get_run(run_id).data.params
    for key, value in params.items():
        if key in stored and stored[key] != str(value):
            client.set_tag(run_id, f"soen.resumed.{key}"[:250], str(value)[:5000])
    return {k: v for k, v in params.items() if k not in stored}


def export_credentials(username: Optional[str], password: Optional[str]) -> None:
    """Hand credentials to MLflow through its environment variables (never through params).

    Values set in the config win over variables already in the environment."""
    if username:
        os.environ["MLFLOW_TRACKING_USERNAME"] = username
    if password:
        os.environ["MLFLOW_TRACKING_PASSWORD"] = password


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def sweep_parent_run(
    tracking_uri: str, experiment_name: str, sweep_dir: Path, tags: Dict[str, str],
    artifact_location: Optional[str] = None,
) -> str:
    """The id of the sweep's parent run, created once even when jobs start in parallel.

    The id is kept in a file of ``sweep_dir``, written under a file lock.

    Args:
        tracking_uri: the MLflow store.
        experiment_name: the experiment (created when missing).
        sweep_dir: the sweep's folder (holds the id file and its lock).
        tags: tags of the parent run.
        artifact_location: artifact root for a newly created experiment, or None.
    """
    from mlflow.tracking import MlflowClient

    sweep_dir = Path(sweep_dir)
    id_file = sweep_dir / PARENT_ID_FILE
    with _locked(sweep_dir / f".{PARENT_ID_FILE}.lock"):
        if id_file.exists() and id_file.read_text().strip():
            return id_file.read_text().strip()
        client = MlflowClient(tracking_uri=tracking_uri)
        exp = client.get_experiment_by_name(experiment_name)
        exp_id = exp.experiment_id if exp else client.create_experiment(
            experiment_name, artifact_location=artifact_location
        )
        run = client.create_run(
            exp_id,
            run_name=f"sweep {sweep_dir.name}",
            tags={**tags, SWEEP_TAG: str(sweep_dir.resolve()), "soen.role": "sweep"},
        )
        id_file.write_text(run.info.run_id)
        return run.info.run_id


def flatten(cfg: Any, prefix: str = "") -> Dict[str, Any]:
    """Nested dicts/lists flattened to `a.b.c` keys, for MLflow params and TB hparams."""
    out: Dict[str, Any] = {}
    if isinstance(cfg, dict):
        for k, v in cfg.items():
            out.update(flatten(v, f"{prefix}{k}."))
    elif isinstance(cfg, list):
        if all(not isinstance(v, (dict, list)) for v in cfg):
            out[prefix[:-1]] = str(cfg)
        else:
            for i, v in enumerate(cfg):
                out.update(flatten(v, f"{prefix}{i}."))
    else:
        out[prefix[:-1]] = cfg
    return out


def trial_tags() -> Dict[str, str]:
    """Tags that tie an MLflow run to its Optuna trial (empty outside an Optuna sweep)."""
    from soen_train.sweeps.trial_context import current_trial

    trial = current_trial()
    if trial is None:
        return {}
    tags = {"optuna.study": trial.study_name, "optuna.trial": str(trial.number)}
    tags.update({f"optuna.param.{k}": str(v) for k, v in trial.params.items()})
    return tags


def mark_sweep_result(
    tracking_uri: str,
    sweep_dir: Path,
    run_ids: list,
    state: str,
    objective: Optional[float],
    direction: str,
    job_label: str,
) -> None:
    """Tag a finished job's runs with its state, and the sweep's parent with the best job so far.

    The parent run carries `best_job`, `best_objective` and `best_run_ids`; each child gets
    `soen.state` (COMPLETE, PRUNED, FAIL) and, when it is the best so far, `soen.best=true`
    (the previous best loses the mark). Serialised with a file lock for parallel jobs.

    Args:
        tracking_uri: the MLflow store.
        sweep_dir: the sweep's folder (holds the parent id file and the lock).
        run_ids: the job's MLflow runs (one per repeat).
        state: COMPLETE, PRUNED or FAIL.
        objective: the job's objective value, or None when it has none.
        direction: ``minimize`` or ``maximize`` (which objective is best).
        job_label: the job's name shown in ``best_job``.
    """
    import math

    from mlflow.tracking import MlflowClient

    id_file = Path(sweep_dir) / PARENT_ID_FILE
    if not id_file.exists():
        return
    client = MlflowClient(tracking_uri=tracking_uri)
    for run_id in run_ids:
        client.set_tag(run_id, "soen.state", state)
    with _locked(Path(sweep_dir) / f".{PARENT_ID_FILE}.lock"):
        parent_id = id_file.read_text().strip()
        # the parent stays FINISHED between jobs (no job knows which one is the sweep's last)
        client.set_terminated(parent_id, "FINISHED")
        if state != "COMPLETE" or objective is None or not math.isfinite(objective):
            return
        parent = client.get_run(parent_id)
        best = parent.data.tags.get("best_objective")
        better = best is None or (
            objective < float(best) if direction == "minimize" else objective > float(best)
        )
        if not better:
            return
        for old in (parent.data.tags.get("best_run_ids") or "").split(","):
            if old:
                client.set_tag(old, "soen.best", "false")
        for run_id in run_ids:
            client.set_tag(run_id, "soen.best", "true")
        client.set_tag(parent_id, "best_objective", repr(objective))
        client.set_tag(parent_id, "best_job", job_label)
        client.set_tag(parent_id, "best_run_ids", ",".join(run_ids))
