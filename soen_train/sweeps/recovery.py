"""Resume a sweep exactly: find trials whose sweeper died, keep what their jobs finished.

Liveness uses Optuna's own heartbeat: the sweeper records a heartbeat for each trial it runs
(`TrialHeartbeats`), and a RUNNING trial whose heartbeat is older than the storage's
``grace_period`` is stale, so a second sweeper on the same study never touches a live trial.
A stale trial whose job finished (its ``soen_result.json`` says completed, pruned or failed)
is recorded with that outcome and value; one that was cut off is FAIL, marked interrupted
(it does not count towards ``n_trials``) and its parameters are queued to run again (a trial
killed between Optuna's ask and its first suggestion has none; the search simply draws anew).
"""

from __future__ import annotations

import datetime
import json
import logging
import math
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional, Set

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from soen_train.tracking.sweep_jobs import RESULT_FILE

log = logging.getLogger(__name__)

#: Trial user attribute: the job folder (written by the job when it starts).
JOB_DIR_ATTR = "job_dir"
#: Trial user attribute: true on trials failed because their sweeper died (not counted).
INTERRUPTED_ATTR = "soen_interrupted"
#: Trial user attribute: the number of the interrupted trial a queued trial re-runs.
RETRY_OF_ATTR = "soen_retry_of"
#: Trial user attribute: true on a trial whose outcome was read back from its result file.
RECOVERED_ATTR = "soen_recovered"
FAIL_REASON_ATTR = "fail_reason"
INTERRUPTED_REASON = "left RUNNING by an interrupted sweep (no heartbeat); its parameters run again"


def _beating_trial_ids(storage: optuna.storages.RDBStorage) -> Set[int]:
    """Ids of trials that have ever recorded a heartbeat."""
    from optuna.storages._rdb.models import TrialHeartbeatModel

    session = storage.scoped_session()
    try:
        return {row[0] for row in session.query(TrialHeartbeatModel.trial_id).all()}
    finally:
        storage.scoped_session.remove()


def stale_trials(storage: optuna.storages.RDBStorage, study_id: int) -> List[FrozenTrial]:
    """RUNNING trials no live process is running: heartbeat older than the grace period, or
    (trials from before heartbeats, or killed between ask and first beat) no heartbeat and
    started longer than the grace period ago."""
    interval = storage.heartbeat_interval
    assert interval is not None, "open the storage with a heartbeat_interval"
    grace = storage.grace_period or 2 * interval
    stale_ids = set(storage._get_stale_trial_ids(study_id))
    beating = _beating_trial_ids(storage)
    now = datetime.datetime.now()
    found = []
    for trial in storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,)):
        old = trial.datetime_start is not None and (now - trial.datetime_start).total_seconds() > grace
        if trial._trial_id in stale_ids or (trial._trial_id not in beating and old):
            found.append(trial)
    return found


def _job_result(trial: FrozenTrial) -> Optional[Dict[str, Any]]:
    job_dir = trial.user_attrs.get(JOB_DIR_ATTR)
    if not job_dir:
        return None
    try:
        return json.loads((Path(job_dir) / RESULT_FILE).read_text())
    except (OSError, ValueError):
        return None


def _values(result: Dict[str, Any], n_objectives: int) -> Optional[List[float]]:
    raw = result.get("objectives") if n_objectives > 1 else [result.get("objective")]
    try:
        values = [float(v) for v in raw or []]
    except (TypeError, ValueError):
        return None
    ok = len(values) == n_objectives and all(math.isfinite(v) for v in values)
    return values if ok else None


def recover_stale_trials(study: optuna.Study) -> Dict[str, List[int]]:
    """Settle every stale trial of ``study``; returns trial numbers by what became of them.

    Keys: ``complete``, ``pruned``, ``failed`` (read from the job's result file) and
    ``interrupted`` (FAIL, not counted, parameters queued again). A trial another sweeper
    settled first is skipped."""
    storage = getattr(study._storage, "_backend", study._storage)  # under Optuna's cache
    done: Dict[str, List[int]] = {"complete": [], "pruned": [], "failed": [], "interrupted": []}
    if getattr(storage, "heartbeat_interval", None) is None:
        return done  # a storage opened without heartbeats cannot tell dead trials from live ones
    for trial in stale_trials(storage, study._study_id):
        tid = trial._trial_id
        result = _job_result(trial) or {}
        status = result.get("status")
        values = _values(result, len(study.directions)) if status == "completed" else None
        try:
            if values is not None:
                storage.set_trial_user_attr(tid, RECOVERED_ATTR, True)
                storage.set_trial_state_values(tid, TrialState.COMPLETE, values)
                done["complete"].append(trial.number)
            elif status == "pruned":
                storage.set_trial_user_attr(tid, RECOVERED_ATTR, True)
                storage.set_trial_state_values(tid, TrialState.PRUNED)
                done["pruned"].append(trial.number)
            elif status in ("failed", "completed"):
                reason = result.get("error") or "the job's objective is not a finite number"
                storage.set_trial_user_attr(tid, FAIL_REASON_ATTR, str(reason))
                storage.set_trial_state_values(tid, TrialState.FAIL)
                done["failed"].append(trial.number)
            else:
                storage.set_trial_user_attr(tid, FAIL_REASON_ATTR, INTERRUPTED_REASON)
                storage.set_trial_user_attr(tid, INTERRUPTED_ATTR, True)
                storage.set_trial_state_values(tid, TrialState.FAIL)
                if trial.params:  # cut off before its parameters were drawn: nothing to repeat
                    study.enqueue_trial(dict(trial.params), user_attrs={RETRY_OF_ATTR: trial.number})
                done["interrupted"].append(trial.number)
        except UpdateFinishedTrialError:
            continue  # another sweeper settled it in the meantime
    for what, numbers in done.items():
        if numbers:
            log.warning("Stale trials %s (their sweeper stopped): %s", numbers, what)
    return done


def counted(trial: FrozenTrial) -> bool:
    """True for trials that count towards ``n_trials`` (over, and not cut off by a dead sweeper)."""
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and not trial.user_attrs.get(INTERRUPTED_ATTR)


def record_heartbeat(storage: optuna.storages.RDBStorage, trial_id: int) -> None:
    """Record a heartbeat stamped with the database clock.

    Optuna's first heartbeat row takes its time from Python, later beats from the database's
    ``now()``; where the two clocks differ (SQLite's is UTC) the first beat would look hours
    old or new. Beating twice makes the stored time the database's from the start."""
    storage.record_heartbeat(trial_id)
    storage.record_heartbeat(trial_id)


class TrialHeartbeats:
    """A background thread recording Optuna heartbeats for the trials this sweeper runs."""

    def __init__(self, storage: optuna.storages.RDBStorage) -> None:
        self._storage = storage
        self._interval = float(storage.heartbeat_interval or 1)
        self._ids: Set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="optuna-heartbeats", daemon=True)

    def add(self, trial_id: int) -> None:
        """Beat for ``trial_id`` from now on (one beat at once, before the job starts)."""
        record_heartbeat(self._storage, trial_id)
        with self._lock:
            self._ids.add(trial_id)

    def discard(self, trial_id: int) -> None:
        """Stop beating for ``trial_id`` (its job has ended)."""
        with self._lock:
            self._ids.discard(trial_id)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            with self._lock:
                ids = list(self._ids)
            for trial_id in ids:
                try:
                    record_heartbeat(self._storage, trial_id)
                except Exception as err:  # noqa: BLE001  (a locked database: beat next time)
                    log.debug("heartbeat for trial id %d failed: %s", trial_id, err)

    def __enter__(self) -> "TrialHeartbeats":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
