"""Keeps training when the MLflow tracking server cannot be reached, and nothing is lost.

Before a repeat opens its MLflow run, `tracking_server_problem` probes an http(s) tracking
URI once (timeout: env ``MLFLOW_HTTP_REQUEST_TIMEOUT``, default 10 s). When the server does
not answer, `LocalMLflowLog` takes the MLflow logger's place: the run's tags, params and every
metric go, one JSON object per line, to ``mlflow_offline.jsonl`` in the repeat's log folder,
and a warning says how to upload them later:

    python -m soen_train.tracking.mlflow_fallback upload <file.jsonl> --tracking-uri <uri>

Local stores (sqlite:, file:, plain paths) are never probed: they cannot be unreachable.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
import urllib.error
import urllib.request
from argparse import Namespace
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Union

from lightning.pytorch.loggers import MLFlowLogger
from lightning.pytorch.loggers.logger import Logger, rank_zero_experiment
from lightning.pytorch.utilities import rank_zero_only

log = logging.getLogger("soen_train")

OFFLINE_FILE = "mlflow_offline.jsonl"
DEFAULT_PROBE_TIMEOUT_S = 10.0


def _probe_timeout() -> float:
    """Seconds to wait for the server: MLflow's own request timeout when the user set one."""
    raw = os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT")
    try:
        return float(raw) if raw else DEFAULT_PROBE_TIMEOUT_S
    except ValueError:
        return DEFAULT_PROBE_TIMEOUT_S


def tracking_server_problem(uri: str, timeout_s: Optional[float] = None) -> Optional[str]:
    """Why the tracking server at ``uri`` cannot be reached, or None when it answers (or is local).

    Any HTTP answer, even 401 or 404, means the server is up; only a refused or timed-out
    connection or an unknown host counts as unreachable.
    """
    if not uri.startswith(("http://", "https://")):
        return None
    url = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s or _probe_timeout()):
            return None
    except urllib.error.HTTPError:
        return None
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        return f"{type(reason).__name__}: {reason}"


class LocalMLflowLog(Logger):
    """A Lightning logger that writes what an MLflow run would hold to a JSONL file.

    Lines: ``{"kind": "run", ...}`` (experiment, run name, tracking URI it should have gone to),
    ``{"kind": "tags", "tags": {...}}``, ``{"kind": "params", "params": {...}}`` and
    ``{"kind": "metric", "key", "value", "step", "timestamp"}`` (timestamp in ms, as MLflow).
    """

    def __init__(self, path: Path, experiment_name: str, run_name: str, tracking_uri: str,
                 tags: Mapping[str, str], reason: str) -> None:
        super().__init__()
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.experiment_name = experiment_name
        self.run_name = run_name
        self.tracking_uri = tracking_uri
        self.run_id: Optional[str] = None  # no MLflow run exists: sweep marking skips this repeat
        self._write({"kind": "run", "experiment": experiment_name, "run_name": run_name,
                     "tracking_uri": tracking_uri, "reason": reason, "created": time.time()})
        self.log_run_tags(dict(tags))

    def _write(self, entry: Dict[str, Any]) -> None:
        # append + flush per entry: a crash later in training keeps everything logged so far
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, default=str) + "\n")

    @property
    def name(self) -> str:
        return self.experiment_name

    @property
    def version(self) -> str:
        return self.run_name

    @property
    @rank_zero_experiment
    def experiment(self) -> "LocalMLflowLog":
        return self

    @rank_zero_only
    def log_run_tags(self, tags: Mapping[str, str]) -> None:
        """Record run tags (strings), as `MlflowClient.set_tag` would."""
        self._write({"kind": "tags", "tags": {str(k): str(v) for k, v in tags.items()}})

    @rank_zero_only
    def log_hyperparams(self, params: Union[Dict[str, Any], Namespace], *args: Any, **kwargs: Any) -> None:
        """Record params (already flattened and redacted by the caller), as strings like MLflow."""
        data = vars(params) if isinstance(params, Namespace) else dict(params)
        self._write({"kind": "params", "params": {str(k): str(v) for k, v in data.items()}})

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: Optional[int] = None) -> None:
        """Record each metric value with its step and a millisecond timestamp."""
        now = int(time.time() * 1000)
        for key, value in metrics.items():
            self._write({"kind": "metric", "key": key, "value": float(value),
                         "step": int(step or 0), "timestamp": now})


def read_offline_log(path: Path) -> Iterator[Dict[str, Any]]:
    """The entries of an offline file, in order (a torn last line from a crash is skipped)."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


def upload_offline_log(path: Path, tracking_uri: Optional[str] = None) -> str:
    """Replay an offline file into a new MLflow run; returns its run id.

    ``tracking_uri`` defaults to the one the run was meant for.
    """
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    entries = list(read_offline_log(Path(path)))
    head = next((e for e in entries if e.get("kind") == "run"), {})
    client = MlflowClient(tracking_uri=tracking_uri or head.get("tracking_uri"))
    name = head.get("experiment") or "Default"
    exp = client.get_experiment_by_name(name)
    exp_id = exp.experiment_id if exp else client.create_experiment(name)
    tags: Dict[str, str] = {"soen.uploaded_from": str(Path(path).resolve())}
    for entry in entries:
        if entry.get("kind") == "tags":
            tags.update(entry["tags"])
    tags.pop("mlflow.parentRunId", None)  # the parent may not exist on the target server
    run = client.create_run(exp_id, run_name=head.get("run_name"), tags=tags)
    run_id = run.info.run_id
    params = [Param(k, v) for e in entries if e.get("kind") == "params" for k, v in e["params"].items()]
    metrics = [Metric(e["key"], e["value"], e["timestamp"], e["step"]) for e in entries if e.get("kind") == "metric"]
    for i in range(0, len(params), 100):  # MLflow caps a batch at 100 params / 1000 metrics
        client.log_batch(run_id, params=params[i:i + 100])
    for i in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=metrics[i:i + 1000])
    client.set_terminated(run_id)
    return run_id


def local_fallback_logger(log_dir: Path, experiment_name: str, run_name: str, tracking_uri: str,
                          tags: Mapping[str, str], hparams: Mapping[str, Any], reason: str) -> LocalMLflowLog:
    """The logger used instead of MLflow when the server is down; warns with the upload command."""
    path = Path(log_dir) / OFFLINE_FILE
    logger = LocalMLflowLog(path, experiment_name, run_name, tracking_uri, tags, reason)
    logger.log_hyperparams(dict(hparams))
    log.warning(
        "MLflow tracking server %s is unreachable (%s); training goes on and the run's params and "
        "metrics are written to %s. Upload them later with: python -m "
        "soen_train.tracking.mlflow_fallback upload %s --tracking-uri %s",
        tracking_uri, reason, path, path, tracking_uri,
    )
    return logger


def _main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m soen_train.tracking.mlflow_fallback",
        description="Upload metrics written locally while the MLflow server was unreachable.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("upload", help="replay an mlflow_offline.jsonl file into an MLflow run")
    up.add_argument("files", nargs="+", type=Path)
    up.add_argument("--tracking-uri", default=None, help="default: the URI recorded in the file")
    args = parser.parse_args(argv)
    for path in args.files:
        if not path.is_file():
            parser.error(f"{path}: no such file")
        print(f"{path} -> run {upload_offline_log(path, args.tracking_uri)}")


if __name__ == "__main__":
    _main()


class ResilientMLFlowLogger(MLFlowLogger):
    """Lightning's MLflow logger that survives the store going away mid-run.

    The first failed call warns once and switches the rest of the run to a local JSONL log
    (same format as `LocalMLflowLog`, uploadable later); training is never interrupted.
    """

    def __init__(self, *args: Any, offline_dir: Path, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._offline_dir = Path(offline_dir)
        self._offline: Optional[LocalMLflowLog] = None

    def _go_offline(self, err: BaseException) -> LocalMLflowLog:
        if self._offline is None:
            reason = f"{type(err).__name__}: {err}".splitlines()[0][:300]
            self._offline = local_fallback_logger(
                self._offline_dir, self._experiment_name, self._run_name or "run",
                str(self._tracking_uri), {"mlflow_run_id": str(self._run_id)}, {}, reason,
            )
        return self._offline

    @rank_zero_only
    def log_hyperparams(self, params: Union[Dict[str, Any], Namespace], *args: Any, **kwargs: Any) -> None:
        if self._offline is None:
            try:
                return super().log_hyperparams(params)
            except Exception as err:  # noqa: BLE001  (any store failure: keep training)
                self._go_offline(err)
        self._offline.log_hyperparams(params)

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: Optional[int] = None) -> None:
        if self._offline is None:
            try:
                return super().log_metrics(metrics, step)
            except Exception as err:  # noqa: BLE001
                self._go_offline(err)
        self._offline.log_metrics(metrics, step)

    @rank_zero_only
    def finalize(self, status: str = "success") -> None:
        # a pre-empted run (SIGTERM/SIGINT) ends KILLED rather than FAILED
        if status == "failed" and getattr(self, "soen_final_status", None):
            status = self.soen_final_status
        if self._offline is None:
            try:
                return super().finalize(status)
            except Exception as err:  # noqa: BLE001
                self._go_offline(err)
