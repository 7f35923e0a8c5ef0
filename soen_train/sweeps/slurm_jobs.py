"""Follow the SLURM jobs of a sweep to their end, with or without SLURM's accounting database.

submitit asks ``sacct`` for job states; on a cluster without ``slurmdbd`` that fails, every
state reads UNKNOWN, and a job that SLURM ended without a result (``scancel``, a node failure,
the time limit) is waited for forever. Here a job's state comes from ``sacct`` when accounting
is on, else from ``squeue --states=all`` (slurmctld keeps a finished job for ``MinJobAge``
seconds), and a job that ended without writing its result becomes a failed job of its own:
the sweep goes on with the others. Plain Python + subprocess; the launcher that uses it lives
in ``hydra_plugins.soen_slurm_launcher``.
"""

from __future__ import annotations

import subprocess
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

from soen_train.errors import SlurmJobEnded  # noqa: F401  (the SLURM launcher imports it from here)

#: States in which a job will never run again (SLURM's job state codes).
ENDED_STATES = frozenset({
    "COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "OUT_OF_MEMORY",
    "BOOT_FAIL", "DEADLINE", "REVOKED", "SPECIAL_EXIT",
})
#: Seconds between two looks at the jobs' states and result files.
POLL_S = 2.0
#: Seconds a job that SLURM reports COMPLETED gets to have its result file appear (shared file
#: systems show new files late; submitit waits as long).
RESULT_GRACE_S = 15.0
#: The same for a job ended from outside (cancelled, failed, timed out): a result it wrote
#: before that is already there or never comes.
ENDED_GRACE_S = 3.0


def _table(command: List[str]) -> Optional[Dict[str, str]]:
    """``JobID|State`` lines of a SLURM command as {job id: state}; None when the command fails."""
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    states = {}
    for line in out.stdout.splitlines():
        job_id, _, state = line.strip().partition("|")
        if job_id and state:
            states[job_id] = state.split()[0].rstrip("+")  # "CANCELLED by 0" -> CANCELLED
    return states


def job_states(job_ids: Sequence[str]) -> Dict[str, str]:
    """SLURM's state of each job id (``123`` or array task ``123_4``) it still knows about.

    Asks ``sacct`` first (accounting on); when that fails (no ``slurmdbd``), ``squeue`` with
    every state, one line per array task. Ids SLURM does not know are missing from the result.
    """
    mains = sorted({job_id.split("_")[0] for job_id in job_ids})
    if not mains:
        return {}
    joined = ",".join(mains)
    states = _table(["sacct", "-X", "-n", "-P", "-o", "JobID,State", "-j", joined])
    if states is None:
        states = _table(["squeue", "-h", "-r", "-t", "all", "-o", "%i|%T", "-j", joined]) or {}
    return {job_id: states[job_id] for job_id in job_ids if job_id in states}


def wait_for_jobs(
    jobs: Sequence[Any],
    ended_without_result: Callable[[int, str], Any],
    poll_s: float = POLL_S,
    grace_s: float = RESULT_GRACE_S,
    ended_grace_s: float = ENDED_GRACE_S,
) -> List[Any]:
    """The result of each submitit job, in order, once every job has ended.

    A job with a result file gives ``job.results()[0]`` (an exception it raised is returned,
    not raised); a job SLURM reports ended and that has no result file ``grace_s`` seconds
    later (``ended_grace_s`` for a job that did not end COMPLETED) gives
    ``ended_without_result(index, state)``. One ``sacct``/``squeue`` call per poll for all jobs.

    Args:
        jobs: the submitit jobs.
        ended_without_result: what a job that ended without a result gives, from its index
            and SLURM state.
        poll_s: seconds between polls.
        grace_s: seconds a COMPLETED job may take to show its result file.
        ended_grace_s: the same for a job that ended otherwise (failed, cancelled, timed out).
    """
    results: List[Any] = [None] * len(jobs)
    waiting = dict(enumerate(jobs))
    ended_since: Dict[int, float] = {}
    seen: Dict[int, str] = {}
    while waiting:
        states = job_states([job.job_id for job in waiting.values()])
        now = time.monotonic()
        for index, job in list(waiting.items()):
            if job.paths.result_pickle.exists():
                try:
                    results[index] = job.results()[0]
                except Exception as err:  # noqa: BLE001 - the job's own failure, kept as its result
                    results[index] = err
                del waiting[index]
                continue
            state = states.get(job.job_id)
            if state is not None:
                seen[index] = state
            # a job SLURM no longer lists after it was seen has ended (MinJobAge passed)
            ended = state in ENDED_STATES or (state is None and index in seen)
            if not ended:
                continue
            ended_since.setdefault(index, now)
            wait_s = grace_s if seen.get(index) == "COMPLETED" else ended_grace_s
            if now - ended_since[index] >= wait_s:
                results[index] = ended_without_result(index, seen.get(index, "ENDED"))
                del waiting[index]
        if waiting:
            time.sleep(poll_s)
    return results
