"""``launcher=joblib``: run a multirun's jobs on a pool of local worker processes that lives for
the whole sweep.

Hydra's joblib launcher builds a ``joblib.Parallel`` per batch; its loky workers are reused
between batches, but each is a fresh interpreter whose first job pays every import (torch,
Lightning, MLflow: seconds, tens of seconds on a loaded machine), all workers at once. Here
the pool is made once, when the sweeper sets the launcher up, and:

- with one thread per worker (``cores // n_jobs == 1``, e.g. 2 workers on 2 cores) the workers
  are forked from the sweeper before it opens its study or starts its heartbeat thread. GNU
  OpenMP is not fork-safe once a parent used a parallel region, so workers with more than one
  thread are not forked;
- otherwise they are loky interpreters.

Either way each worker imports the training stack (and the local MLflow store's SQLAlchemy
layer, when MLflow logs to one) as it starts, all workers at once and while the sweeper sets
up its study, so no job pays them. On 2 cores this put the first jobs' extra cost at 0.5 s
instead of 1.75 s, with the sweeper's own start no longer waiting for a serial import.

Each worker sets its torch/OpenMP/BLAS threads to ``threads_per_worker`` (default
``cores // n_jobs``) before it runs a job, so ``n_jobs`` workers do not oversubscribe the cores.
Every job runs through hydra-joblib-launcher's ``execute_job`` (the same job set-up as
``hydra/launcher=joblib``), its arguments and result pickled with cloudpickle as joblib does.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, configure_log, filter_overrides, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

log = logging.getLogger(__name__)

#: Thread-count variables of OpenMP and the BLAS libraries, set in every worker.
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
START_METHODS = ("auto", "fork", "loky")


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. a SLURM or cgroup allotment)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def worker_threads(n_jobs: int, threads_per_worker: Optional[int]) -> int:
    """Threads of each worker: the configured number, else the usable cores // ``n_jobs``."""
    if threads_per_worker is not None:
        return max(1, int(threads_per_worker))
    return max(1, usable_cores() // max(1, int(n_jobs)))


def pool_start_method(start_method: str, threads: int) -> str:
    """``fork`` or ``loky``: what ``auto`` means for workers of ``threads`` threads."""
    if start_method not in START_METHODS:
        from soen_train.config.errors import ConfigError

        raise ConfigError(
            f"hydra.launcher.start_method={start_method!r}: expected one of {', '.join(START_METHODS)}"
        )
    if start_method != "auto":
        return start_method
    fork_ok = "fork" in multiprocessing.get_all_start_methods()
    return "fork" if fork_ok and threads == 1 else "loky"


def die_with_parent() -> None:
    """Have Linux SIGKILL this process when the sweeper that started it dies (``kill -9`` of
    the sweeper alone leaves no orphan worker training on; the rerun recovers its trial)."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def start_worker(threads: int, modules: List[str]) -> None:
    """Initializer of every worker process: tied to the sweeper's life, its thread count, and
    (a fresh interpreter) what the jobs import, imported once before any job."""
    from soen_train.sweeps.worker_preload import preload

    die_with_parent()
    for var in THREAD_VARS:  # read by torch when a job first imports it
        os.environ[var] = str(threads)
    if "torch" in sys.modules:  # forked from a sweeper that imported torch
        sys.modules["torch"].set_num_threads(threads)
    preload(modules)


def worker_ready() -> int:
    """A no-op job that makes the pool start its workers; returns the worker's pid."""
    return os.getpid()


def adopt_environment(environ: Dict[str, str]) -> None:
    """Make this worker's environment the sweeper's ``environ`` (taken when it launched the job:
    the sweeper exports e.g. a storage URL with a password after the workers started), except
    the worker's own thread counts."""
    wanted = {k: v for k, v in environ.items() if k not in THREAD_VARS}
    for key in [k for k in os.environ if k not in wanted and k not in THREAD_VARS]:
        del os.environ[key]
    os.environ.update(wanted)


def run_pickled_job(job: bytes) -> bytes:
    """Run one Hydra job in a worker: ``job`` is the cloudpickled sweeper environment and the
    arguments of hydra-joblib-launcher's ``execute_job``; returns its cloudpickled ``JobReturn``."""
    import cloudpickle
    from hydra_plugins.hydra_joblib_launcher._core import execute_job

    environ, args = cloudpickle.loads(job)
    adopt_environment(environ)
    return cloudpickle.dumps(execute_job(*args))


def make_pool(n_jobs: int, threads: int, method: str, modules: List[str]) -> Executor:
    """The worker pool, forked from this process or loky interpreters; either way each worker
    imports ``modules`` when it starts, before its first job, while the sweeper sets up its
    study. A process running other threads is never forked (a lock one of them holds would stay
    locked in the child): loky then."""
    if method == "fork" and threading.active_count() > 1:
        method = "loky"
    log.info("Worker pool: %d %s worker(s), %d thread(s) each", n_jobs, method, threads)
    if method == "fork":
        return ProcessPoolExecutor(
            max_workers=n_jobs, mp_context=multiprocessing.get_context("fork"),
            initializer=start_worker, initargs=(threads, modules),
        )
    from joblib.externals.loky.process_executor import ProcessPoolExecutor as LokyPool

    env = {var: str(threads) for var in THREAD_VARS}
    return LokyPool(max_workers=n_jobs, initializer=start_worker, initargs=(threads, modules), env=env)


class SoenJoblibLauncher(Launcher):
    """Local parallel launcher whose worker processes persist across the sweep's batches."""

    def __init__(self, n_jobs: int = 2, threads_per_worker: Optional[int] = None,
                 start_method: str = "auto") -> None:
        self.n_jobs = max(1, int(n_jobs))
        self.threads = worker_threads(self.n_jobs, threads_per_worker)
        self.start_method = pool_start_method(start_method, self.threads)
        self.config: Optional[DictConfig] = None
        self.task_function: Optional[TaskFunction] = None
        self.hydra_context: Optional[HydraContext] = None
        self._pool: Optional[Executor] = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction,
              config: DictConfig) -> None:
        """Keep Hydra's context and start the workers now (fork before the sweeper has threads)."""
        self.config = config
        self.task_function = task_function
        self.hydra_context = hydra_context
        self._start_pool()

    def _start_pool(self) -> Executor:
        """Make the pool and have every worker start (in the background)."""
        if self._pool is None:
            from soen_train.sweeps.worker_preload import job_modules

            self._pool = make_pool(self.n_jobs, self.threads, self.start_method,
                                   job_modules(self.config))
            for _ in range(self.n_jobs):
                self._pool.submit(worker_ready)
        return self._pool

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        """Run the jobs on the pool, at most ``n_jobs`` at once; their results in order."""
        import cloudpickle

        setup_globals()
        assert self.config is not None and self.hydra_context is not None
        assert self.task_function is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        log.info("Launching %d job(s) on the worker pool, sweep output dir : %s",
                 len(job_overrides), sweep_dir)
        for offset, overrides in enumerate(job_overrides):
            log.info("\t#%d : %s", initial_job_idx + offset, " ".join(filter_overrides(overrides)))
        pool = self._start_pool()
        state = Singleton.get_state()
        futures = [
            pool.submit(run_pickled_job, cloudpickle.dumps((dict(os.environ), (
                initial_job_idx + offset, list(overrides), self.hydra_context, self.config,
                self.task_function, state))))
            for offset, overrides in enumerate(job_overrides)
        ]
        try:
            return [cloudpickle.loads(future.result()) for future in futures]
        except BaseException:
            # a worker died (or Ctrl-C): the next launch makes a new pool, not by fork, as the
            # sweeper now runs threads (its trials' heartbeats)
            pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
            self.start_method = "loky"
            raise
