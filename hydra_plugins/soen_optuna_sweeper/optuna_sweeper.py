"""The Optuna sweeper: ask the study for trials, launch them as Hydra jobs, tell the results.

Hydra imports every module under ``hydra_plugins`` at start-up, so this one imports Optuna and
the ``soen_train.sweeps`` helpers only when a sweep actually starts.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf
from optuna.trial import TrialState

log = logging.getLogger(__name__)


class SweepFailureError(RuntimeError):
    """Too many trials failed (``hydra.sweeper.max_failure_rate`` exceeded)."""


class OptunaSweeper(Sweeper):
    """Hydra sweeper that searches ``params`` with an Optuna study kept in a database.

    Each batch asks the study for ``n_jobs`` trials, launches them through the configured
    launcher and tells the study each job's outcome. The study lives in ``storage`` (default:
    ``<sweep dir>/optuna.db``), so a restarted sweep resumes where it stopped: trials of a dead
    sweeper are found by their stale heartbeat, finished jobs keep their result, cut-off ones
    run again. Several sweepers on one study share its ``n_trials``.
    """

    def __init__(
        self,
        sampler: Any = None,
        pruner: Any = None,
        direction: Any = "minimize",
        storage: Optional[str] = None,
        study_name: Optional[str] = None,
        n_trials: int = 20,
        n_jobs: int = 2,
        max_failure_rate: float = 1.0,
        heartbeat_interval: int = 5,
        grace_period: int = 20,
        params: Optional[Dict[str, str]] = None,
    ) -> None:
        from soen_train.sweeps.study_setup import SweeperConfigError, directions_from_config

        super().__init__()
        checked = (("n_trials", n_trials), ("n_jobs", n_jobs),
                   ("heartbeat_interval", heartbeat_interval), ("grace_period", grace_period))
        for key, value in checked:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SweeperConfigError(f"hydra.sweeper.{key}={value!r}: must be an integer >= 1")
        if not 0.0 <= float(max_failure_rate) <= 1.0:
            raise SweeperConfigError(
                f"hydra.sweeper.max_failure_rate={max_failure_rate!r}: must be between 0 and 1"
            )
        self.sampler_config = sampler
        self.pruner_config = pruner
        self.directions = directions_from_config(
            OmegaConf.to_container(direction) if OmegaConf.is_config(direction) else direction
        )
        self.storage = storage
        self.study_name = study_name
        self.n_trials = n_trials
        self.n_jobs = n_jobs
        self.max_failure_rate = float(max_failure_rate)
        if grace_period <= heartbeat_interval:
            raise SweeperConfigError(
                f"hydra.sweeper.grace_period={grace_period} must exceed "
                f"hydra.sweeper.heartbeat_interval={heartbeat_interval} (seconds)"
            )
        self.heartbeat_interval = heartbeat_interval
        self.grace_period = grace_period
        self.params = OmegaConf.to_container(params) if OmegaConf.is_config(params) else params
        self.hydra_context: Optional[HydraContext] = None
        self.config: Optional[DictConfig] = None
        self.launcher: Optional[Launcher] = None
        #: composition keys (``SearchSpace.composition_key``) of job overrides checked already
        self._composed: set = set()

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        """Keep Hydra's context and build the configured launcher."""
        from hydra.core.plugins import Plugins

        self.hydra_context = hydra_context
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: List[str]) -> Any:
        """Run (or resume) the search until the study holds ``n_trials`` finished trials.

        Returns the Optuna study.
        """
        from hydra.core.override_parser.overrides_parser import OverridesParser

        from soen_train.config.secrets import redact
        from soen_train.sweeps.recovery import TrialHeartbeats, recover_stale_trials
        from soen_train.sweeps.results import log_best, summarize, write_results
        from soen_train.sweeps.search_space import build_search_space
        from soen_train.sweeps.storage import (
            masked_url,
            open_storage,
            resolve_storage_url,
            url_has_password,
        )
        from soen_train.sweeps.study_setup import (
            SweeperConfigError,
            build_sampler,
            count_finished,
            open_study,
            pruner_config,
        )
        from soen_train.sweeps.trial_context import ENV_STORAGE

        assert self.config is not None and self.launcher is not None
        assert self.hydra_context is not None
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        space = build_search_space(self.params, arguments, parser)
        if not space.params:
            raise SweeperConfigError(
                "the Optuna sweeper found nothing to search: give hydra.sweeper.params or "
                "sweep overrides such as 'x=interval(0,1)' or 'opt=choice(adam,sgd)'"
            )

        sweep_dir = Path(str(self.config.hydra.sweep.dir)).resolve()
        sweep_dir.mkdir(parents=True, exist_ok=True)
        # secrets (logging.mlflow_password in a config file, ...) are masked in the saved copy
        OmegaConf.save(
            OmegaConf.create(redact(OmegaConf.to_container(self.config, resolve=False))),
            sweep_dir / "multirun.yaml",
        )
        url = resolve_storage_url(self.storage, sweep_dir)
        shown_url = masked_url(url)
        study_name = str(self.study_name or self.config.hydra.job.name)
        if "${" in study_name:
            raise SweeperConfigError(
                f"hydra.sweeper.study_name={study_name!r} may not contain '${{'"
            )
        storage = open_storage(url, self.heartbeat_interval, self.grace_period)
        study = open_study(
            storage,
            study_name,
            self.directions,
            build_sampler(self.sampler_config, space),
            pruner_config(self.pruner_config),
        )
        recover_stale_trials(study)
        finished = count_finished(study)
        log.info(
            "Optuna study %r in %s: %d of %d trials already finished; directions %s; searching %s",
            study_name,
            shown_url,
            finished,
            self.n_trials,
            self.directions,
            {key: str(p.distribution) for key, p in space.params.items()},
        )

        secret_url = url_has_password(url)
        stop = False
        try:
            with _exported_env({ENV_STORAGE: url} if secret_url else {}), TrialHeartbeats(
                storage
            ) as beats:
                while not stop:
                    recover_stale_trials(study)
                    finished = count_finished(study)
                    if finished >= self.n_trials:
                        break
                    running = len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
                    room = self.n_trials - finished - running
                    if room <= 0:  # the rest is running in another sweeper: wait for it
                        time.sleep(min(1.0, float(self.heartbeat_interval)))
                        continue
                    batch = []
                    for _ in range(min(self.n_jobs, room)):
                        trial = study.ask(space.distributions)
                        beats.add(trial._trial_id)
                        batch.append(trial)
                    try:
                        stop = self._run_batch(
                            study, batch, space, url, study_name, not secret_url
                        )
                    finally:
                        for trial in batch:
                            beats.discard(trial._trial_id)
                    self._check_failure_rate(study, count_finished(study))
        finally:
            # Written even when the sweep stops on an error, so what ran is summarised.
            summary = summarize(study, shown_url)
            path = write_results(summary, sweep_dir)
            log_best(summary, log)
            log.info("Optimisation results written to %s", path)
        self._exit_if_trials_failed(study, sweep_dir)
        return study

    def _exit_if_trials_failed(self, study: Any, sweep_dir: Path) -> None:
        """Exit non-zero (one ``Error:`` line) when trials of the study failed."""
        from soen_train.sweeps.recovery import FAIL_REASON_ATTR, JOB_DIR_ATTR, counted

        failed = [t for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)) if counted(t)]
        if not failed:
            return
        total = sum(1 for t in study.get_trials(deepcopy=False) if counted(t))
        where = [
            f"#{t.number}: {t.user_attrs.get(JOB_DIR_ATTR) or 'no job folder'} "
            f"({str(t.user_attrs.get(FAIL_REASON_ATTR, 'unknown'))[:120]})"
            for t in failed[:5]
        ]
        more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
        print(
            f"Error: {len(failed)} of {total} trials failed; their job folders (logs in "
            f"<folder>/*.log): {'; '.join(where)}{more}; summary: "
            f"{sweep_dir / 'optimization_results.yaml'}",
            file=sys.stderr,
        )
        raise SystemExit(1)

    def _run_batch(
        self,
        study: Any,
        trials: Sequence[Any],
        space: Any,
        url: str,
        study_name: str,
        pass_url: bool,
    ) -> bool:
        """Launch one job per trial and tell the study each outcome; True: the sampler says stop."""
        from optuna.trial import TrialState

        from soen_train.sweeps.job_env import trial_env_overrides
        from soen_train.sweeps.study_setup import FAIL_REASON_ATTR

        assert self.launcher is not None
        job_overrides = []
        for trial in trials:
            task_overrides = space.job_overrides(trial.params)
            trial.set_user_attr("overrides", task_overrides)
            job_overrides.append(
                task_overrides + trial_env_overrides(url, study_name, trial.number, pass_url)
            )
        try:
            self._validate_new_compositions(trials, job_overrides, space)
            # Job numbers follow trial numbers, so job dirs (hydra.sweep.subdir) match trials
            # and a resumed sweep does not overwrite the dirs of earlier trials. Another
            # sweeper on the study may hold the numbers in between: launch each run of
            # consecutive numbers on its own.
            returns = []
            start = 0
            for end in range(1, len(trials) + 1):
                if end == len(trials) or trials[end].number != trials[end - 1].number + 1:
                    returns.extend(
                        self.launcher.launch(
                            job_overrides[start:end], initial_job_idx=trials[start].number
                        )
                    )
                    start = end
        except BaseException as err:  # a config or launcher error, or Ctrl-C: nothing was told
            for trial in trials:
                trial.set_user_attr(FAIL_REASON_ATTR, f"not run: {type(err).__name__}: {err}")
                study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
            raise
        stop = False
        for trial, job in zip(trials, returns, strict=True):
            stop = self._tell(study, trial, job) or stop
        return stop

    def _validate_new_compositions(
        self, trials: Sequence[Any], job_overrides: List[List[str]], space: Any
    ) -> None:
        """Hydra's early composition check, for the jobs whose overrides differ from every
        checked one in more than numbers (the trial number and the sampled floats and ints)."""
        fresh, keys = [], []
        for trial, overrides in zip(trials, job_overrides, strict=True):
            key = space.composition_key(trial.params)
            if key not in self._composed and key not in keys:
                fresh.append(overrides)
                keys.append(key)
        self.validate_batch_is_legal(fresh)
        self._composed.update(keys)

    def _tell(self, study: Any, trial: Any, job: JobReturn) -> bool:
        """Record one job's outcome in its trial; True if the sampler asked the study to stop."""
        from optuna.trial import TrialState

        from soen_train.sweeps.results import format_values
        from soen_train.sweeps.study_setup import FAIL_REASON_ATTR
        from soen_train.sweeps.trial_outcome import outcome_of

        outcome = outcome_of(job, len(self.directions))
        if job.hydra_cfg is not None:
            trial.set_user_attr("job_dir", str(job.hydra_cfg.hydra.runtime.output_dir))
        if outcome.state == TrialState.FAIL:
            trial.set_user_attr(FAIL_REASON_ATTR, outcome.reason)
            log.warning(
                "Trial #%d FAIL (%s) params=%s",
                trial.number,
                outcome.reason,
                trial.params,
                exc_info=outcome.error,
            )
        elif outcome.state == TrialState.PRUNED:
            log.info("Trial #%d PRUNED (%s) params=%s", trial.number, outcome.reason, trial.params)
        else:
            log.info(
                "Trial #%d COMPLETE %s=%s params=%s",
                trial.number,
                "value" if len(self.directions) == 1 else "values",
                format_values(outcome.values),
                trial.params,
            )
        stop = False
        try:
            study.tell(trial, outcome.values, state=outcome.state, skip_if_finished=True)
        except RuntimeError as err:
            # Samplers such as GridSampler call study.stop() when their grid is done; outside
            # study.optimize Optuna raises that as a RuntimeError after storing the trial.
            if "Study.stop" not in str(err):
                raise
            log.info("The sampler has nothing left to try; ending the search")
            stop = True
        study.set_user_attr(
            f"trial_{trial.number}",
            {
                "number": trial.number,
                "params": dict(trial.params),
                "state": outcome.state.name,
                "values": outcome.values,
            },
        )
        return stop

    def _check_failure_rate(self, study: Any, finished: int) -> None:
        """Raise once FAIL trials make up more than ``max_failure_rate`` of finished trials."""
        from optuna.trial import TrialState

        failed = len(study.get_trials(deepcopy=False, states=(TrialState.FAIL,)))
        if finished and failed / finished > self.max_failure_rate:
            raise SweepFailureError(
                f"{failed} of {finished} trials failed, more than hydra.sweeper.max_failure_rate="
                f"{self.max_failure_rate}; see the 'fail_reason' of the failed trials"
            )


@contextlib.contextmanager
def _exported_env(values: Dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the sweep, then restore the old ones."""
    old = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
