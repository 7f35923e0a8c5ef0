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
import base64
import json
import logging
import os
import re
import time
import urllib.error
import urllib.request
from argparse import Namespace
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Union

from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import MLFlowLogger
from lightning.pytorch.loggers.logger import Logger, rank_zero_experiment
from lightning.pytorch.utilities import rank_zero_only

from soen_train.errors import TrackingAuthError

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


def _auth_header() -> Dict[str, str]:
    """The Authorization header MLflow's client would send (token, else basic auth)."""
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    if token:
        return {"Authorization": f"Bearer {token}"}
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    password = os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if user or password:
        pair = base64.b64encode(f"{user or ''}:{password or ''}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}
    return {}


def _refused(uri: str, status: int) -> TrackingAuthError:
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    who = f"user {user!r}" if user else "a request without credentials"
    what = "rejected the credentials of" if status == 401 else "denied access to"
    return TrackingAuthError(
        f"logging.mlflow_tracking_uri={uri}: the MLflow server {what} {who} (HTTP {status}); "
        "set logging.mlflow_username and logging.mlflow_password (or MLFLOW_TRACKING_USERNAME / "
        "MLFLOW_TRACKING_PASSWORD) to an account of that server"
    )


def tracking_server_problem(uri: str, timeout_s: Optional[float] = None) -> Optional[str]:
    """Why the tracking server at ``uri`` cannot be reached, or None when it answers (or is local).

    Two requests: ``/health`` (is the server up?) and one authenticated API read with the
    credentials MLflow will use. Only a refused or timed-out connection or an unknown host
    counts as unreachable (training then goes on with the local log); a 401 or 403 raises
    `TrackingAuthError` before any training, since every later call would be refused too.
    """
    if not uri.startswith(("http://", "https://")):
        return None
    base = uri.rstrip("/")
    timeout = timeout_s or _probe_timeout()
    for url, headers in ((base + "/health", {}),
                         (base + "/api/2.0/mlflow/experiments/search?max_results=1", _auth_header())):
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout):
                pass
        except urllib.error.HTTPError as err:
            if err.code in (401, 403):
                raise _refused(uri, err.code) from None
            # another answer (404 of a proxy without /health, ...): the server is up
        except (urllib.error.URLError, OSError, ValueError) as err:
            reason = getattr(err, "reason", err)
            return f"{type(reason).__name__}: {reason}"
    return None


class LocalMLflowLog(Logger):
    """A Lightning logger that writes what an MLflow run would hold to a JSONL file.

    Lines: ``{"kind": "run", ...}`` (experiment, run name, tracking URI it should have gone to),
    ``{"kind": "tags", "tags": {...}}``, ``{"kind": "params", "params": {...}}`` and
    ``{"kind": "metric", "key", "value", "step", "timestamp"}`` (timestamp in ms, as MLflow)
    ``{"kind": "artifact", "path"}`` (a file to upload, e.g. best.soen) and, when training
    ends, ``{"kind": "end", "status": "FINISHED" | "FAILED" | "KILLED"}``.
    ``continues_run``: the id of the server run this log takes over (the server went away
    mid-run); the upload then appends to that run instead of creating one.
    """

    def __init__(self, path: Path, experiment_name: str, run_name: str, tracking_uri: str,
                 tags: Mapping[str, str], reason: str, continues_run: Optional[str] = None) -> None:
        super().__init__()
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.experiment_name = experiment_name
        self.run_name = run_name
        self.tracking_uri = tracking_uri
        self.run_id: Optional[str] = None  # no MLflow run exists: sweep marking skips this repeat
        self._write({"kind": "run", "experiment": experiment_name, "run_name": run_name,
                     "tracking_uri": tracking_uri, "reason": reason, "created": time.time(),
                     "continues_run": continues_run})
        self.log_run_tags(dict(tags))

    def _write(self, entry: Dict[str, Any]) -> None:
        # append + flush per entry: a crash later in training keeps everything logged so far
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, default=str) + "\n")

    @property
    def name(self) -> str:
        """The experiment name (Lightning's ``Logger.name``)."""
        return self.experiment_name

    @property
    def version(self) -> str:
        """The run name (Lightning's ``Logger.version``)."""
        return self.run_name

    @property
    @rank_zero_experiment
    def experiment(self) -> "LocalMLflowLog":
        """This object: it stands in for the MLflow client Lightning's loggers expose."""
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
    def log_metrics(self, metrics: Mapping[str, float], step: Optional[int] = None,
                    unconfirmed_since: Optional[int] = None, timestamp: Optional[int] = None) -> None:
        """Record each metric value with its step and a millisecond timestamp.

        Args:
            metrics: metric name -> value.
            step: the training step the values belong to (0 when None).
            unconfirmed_since: set for the values of the call to the server that failed: the
                server may have stored them before its answer was lost. The value is the
                earliest timestamp (ms) the server could have stored them with; the upload
                skips such a value when the run already holds it with a timestamp from then on.
            timestamp: when the values were logged (ms; default now): a batch that waited in
                `ResilientMLFlowLogger` keeps the times its values were logged at.
        """
        now = int(time.time() * 1000) if timestamp is None else int(timestamp)
        for key, value in metrics.items():
            entry = {"kind": "metric", "key": key, "value": float(value),
                     "step": int(step or 0), "timestamp": now}
            if unconfirmed_since is not None:
                entry["unconfirmed_since"] = int(unconfirmed_since)
            self._write(entry)

    @rank_zero_only
    def log_artifact_file(self, path: Path) -> None:
        """Record a file the upload sends to the run's artifacts (it must stay where it is)."""
        self._write({"kind": "artifact", "path": str(Path(path).resolve())})

    @rank_zero_only
    def finalize(self, status: str = "success") -> None:
        """Record how the run ended (Lightning's "success"/"failed", or an MLflow status)."""
        final = {"success": "FINISHED", "finished": "FINISHED", "failed": "FAILED"}.get(status, status)
        self._write({"kind": "end", "status": str(final).upper()})


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
    """Replay an offline file into MLflow; returns the run id it went to.

    A log that took over a server run mid-run (``continues_run``) is appended to that run when
    the target server has it (its params and metrics from before the outage are already
    there); otherwise a new run is created. A value whose call failed as the server went away
    is not written twice when the server had stored it. ``tracking_uri`` defaults to the one
    the run was meant for.
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
    existing = _server_run(client, head.get("continues_run"))
    if existing is not None:
        run_id, known = existing.info.run_id, dict(existing.data.params)
        for key, value in tags.items():
            client.set_tag(run_id, key, value)
    else:
        tags.pop("mlflow.parentRunId", None)  # the parent may not exist on the target server
        run_id, known = client.create_run(exp_id, run_name=head.get("run_name"), tags=tags).info.run_id, {}
    params = [Param(k, v) for e in entries if e.get("kind") == "params"
              for k, v in e["params"].items() if k not in known]  # MLflow params are write-once
    metrics = [Metric(e["key"], e["value"], e["timestamp"], e["step"])
               for e in _not_on_server(client, run_id if existing is not None else None, entries)]
    for i in range(0, len(params), 100):  # MLflow caps a batch at 100 params / 1000 metrics
        client.log_batch(run_id, params=params[i:i + 100])
    for i in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=metrics[i:i + 1000])
    for entry in entries:
        if entry.get("kind") == "artifact" and Path(entry["path"]).is_file():
            client.log_artifact(run_id, entry["path"])
    ends = [e["status"] for e in entries if e.get("kind") == "end"]
    client.set_terminated(run_id, status=ends[-1] if ends else "FINISHED")
    return run_id


def _not_on_server(client: Any, run_id: Optional[str], entries: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The metric entries to replay into ``run_id``: all but those the server already stored.

    Only the values of the call that failed when the server went away are in doubt
    (``unconfirmed_since``): the server may have written them and lost only its answer. Such a
    value is skipped when the run's history has the same key, step and value with a timestamp
    between the call's start and the offline entry's; each stored value excuses one entry.
    """
    metrics = [e for e in entries if e.get("kind") == "metric"]
    doubtful = {e["key"] for e in metrics if "unconfirmed_since" in e}
    if run_id is None or not doubtful:
        return metrics
    stored = {key: list(client.get_metric_history(run_id, key)) for key in doubtful}
    replay = []
    for e in metrics:
        since = e.get("unconfirmed_since")
        match = None if since is None else next(
            (m for m in stored[e["key"]] if m.step == e["step"] and m.value == e["value"]
             and since <= m.timestamp <= e["timestamp"]), None)
        if match is None:
            replay.append(e)
        else:
            stored[e["key"]].remove(match)
    return replay


def _server_run(client: Any, run_id: Optional[str]) -> Any:
    """The run ``run_id`` on the client's server, None when there is none (or no id)."""
    if not run_id or run_id == "None":
        return None
    from mlflow.exceptions import MlflowException

    try:
        return client.get_run(run_id)
    except MlflowException:
        return None


def local_fallback_logger(log_dir: Path, experiment_name: str, run_name: str, tracking_uri: str,
                          tags: Mapping[str, str], hparams: Mapping[str, Any], reason: str,
                          continues_run: Optional[str] = None) -> LocalMLflowLog:
    """The logger used instead of MLflow when the server is down; warns with the upload command.

    Args:
        log_dir: the run's folder; the records go to ``<log_dir>/mlflow_offline.jsonl``.
        experiment_name: the MLflow experiment the run belongs to (kept for the upload).
        run_name: the run's display name.
        tracking_uri: the unreachable server, named in the warning and used by the upload.
        tags: the run's tags.
        hparams: the run's params, written at once.
        reason: why the server was found unreachable (the error), for the warning.
        continues_run: id of an MLflow run this one resumes, or None.
    """
    path = Path(log_dir) / OFFLINE_FILE
    logger = LocalMLflowLog(path, experiment_name, run_name, tracking_uri, tags, reason, continues_run)
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


class ResilientMLFlowLogger(MLFlowLogger):
    """Lightning's MLflow logger that survives the store going away mid-run, and sends metric
    values in batches.

    The first failed call warns once and switches the rest of the run to a local JSONL log
    (same format as `LocalMLflowLog`, uploadable later); training is never interrupted.

    Metric values wait in memory, each with the time it was logged, and go to the store in one
    ``log_batch`` (one store write instead of one per logging step: on a SQLite store a write
    costs milliseconds, as much as a small SOEN's training step). They are sent when
    ``MAX_WAITING_VALUES`` wait or the oldest waited ``MAX_WAIT_S``, before every checkpoint
    is written (`flush_waiting_metrics`: Lightning's through `MetricsFlush`, the JAX loop's
    directly), when each epoch starts, and when the run ends. A
    checkpoint therefore never holds a step whose values are not in the store: a run killed
    with SIGKILL and resumed from its checkpoint loses no value, it logs again the steps after
    the checkpoint, as it would without batching.
    """

    #: values (not calls) waiting at most; MLflow takes at most 1000 metrics per batch
    MAX_WAITING_VALUES = 1000
    #: seconds the oldest waiting value may wait before the next logging call sends them
    MAX_WAIT_S = 5.0

    def __init__(self, *args: Any, offline_dir: Path, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._offline_dir = Path(offline_dir)
        self._offline: Optional[LocalMLflowLog] = None
        #: (metrics, step, timestamp ms) of the values not sent yet
        self._waiting: List[Any] = []
        self._waiting_values = 0
        self._renamed: set = set()  # metric names already warned about

    def _go_offline(self, err: BaseException) -> LocalMLflowLog:
        if self._offline is None:
            reason = f"{type(err).__name__}: {err}".splitlines()[0][:300]
            self._offline = local_fallback_logger(
                self._offline_dir, self._experiment_name, self._run_name or "run",
                str(self._tracking_uri), {"mlflow_run_id": str(self._run_id)}, {}, reason,
                continues_run=self._run_id,
            )
        return self._offline

    @rank_zero_only
    def log_hyperparams(self, params: Union[Dict[str, Any], Namespace], *args: Any, **kwargs: Any) -> None:
        """Log params to MLflow; on a store failure, to the local file from then on."""
        if self._offline is None:
            try:
                return super().log_hyperparams(params)
            except Exception as err:  # noqa: BLE001  (any store failure: keep training)
                self._go_offline(err)
        self._offline.log_hyperparams(params)

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: Optional[int] = None) -> None:
        """Queue metrics for MLflow (sent in batches, see the class); on a store failure, to
        the local file from then on."""
        if self._offline is not None:
            self._offline.log_metrics(metrics, step)
            return
        now = int(time.time() * 1000)
        kept = {}
        for key, value in metrics.items():
            if isinstance(value, str):
                log.warning("Discarding metric with string value %s=%s.", key, value)
                continue
            allowed = re.sub("[^a-zA-Z0-9_/. -]+", "", key)  # the characters MLflow takes
            if allowed != key and key not in self._renamed:
                self._renamed.add(key)
                log.warning("MLflow takes only letters, digits and '_/. -' in metric names: %r is "
                            "logged as %r.", key, allowed)
            kept[allowed] = value
        self._waiting.append((kept, int(step or 0), now))
        self._waiting_values += len(kept)
        if (self._waiting_values >= self.MAX_WAITING_VALUES
                or now - self._waiting[0][2] >= 1000 * self.MAX_WAIT_S):
            self.flush_metrics()

    @rank_zero_only
    def flush_metrics(self) -> None:
        """Send every waiting value to the store now (each with the time it was logged)."""
        if not self._waiting or self._offline is not None:
            return
        from mlflow.entities import Metric

        waiting, self._waiting, self._waiting_values = self._waiting, [], 0
        values = [Metric(key=key, value=value, timestamp=stamp, step=step)
                  for metrics, step, stamp in waiting for key, value in metrics.items()]
        try:
            for start in range(0, len(values), 1000):
                self.experiment.log_batch(run_id=self.run_id, metrics=values[start:start + 1000],
                                          **self._log_batch_kwargs)
        except Exception as err:  # noqa: BLE001
            # the server may have stored some before the connection broke, each with its own
            # timestamp: the upload checks them from that time on
            offline = self._go_offline(err)
            for metrics, step, stamp in waiting:
                offline.log_metrics(metrics, step, unconfirmed_since=stamp, timestamp=stamp)

    @rank_zero_only
    def log_artifact_file(self, path: Path) -> None:
        """Upload a file to the run's artifacts; while offline, the local log records it."""
        if self._offline is None:
            try:
                return self.experiment.log_artifact(self.run_id, str(path))
            except Exception as err:  # noqa: BLE001
                self._go_offline(err)
        self._offline.log_artifact_file(path)

    @rank_zero_only
    def finalize(self, status: str = "success") -> None:
        """End the run with ``status`` (a pre-empted run ends KILLED), online or offline."""
        # a pre-empted run (SIGTERM/SIGINT) ends KILLED rather than FAILED
        if status == "failed" and getattr(self, "soen_final_status", None):
            status = self.soen_final_status
        self.flush_metrics()
        if self._offline is None:
            try:
                return super().finalize(status)
            except Exception as err:  # noqa: BLE001
                self._go_offline(err)
        self._offline.finalize(status)


def flush_waiting_metrics(loggers: List[Any]) -> None:
    """Send the metric values any of ``loggers`` holds back (`ResilientMLFlowLogger`); every
    checkpoint writer calls this first, so that no checkpoint runs ahead of the store."""
    for logger in loggers:
        flush = getattr(logger, "flush_metrics", None)
        if flush is not None:
            flush()


class MetricsFlush(Callback):
    """`flush_waiting_metrics` before each Lightning checkpoint is written and when each
    training epoch starts (an epoch's values are in the store while the next one trains)."""

    def on_save_checkpoint(self, trainer: Any, pl_module: Any, checkpoint: Dict[str, Any]) -> None:
        """Lightning builds the checkpoint's contents: the file is written right after."""
        flush_waiting_metrics(trainer.loggers)

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        """The previous epoch's end-of-epoch values are logged by now."""
        flush_waiting_metrics(trainer.loggers)


if __name__ == "__main__":
    _main()
