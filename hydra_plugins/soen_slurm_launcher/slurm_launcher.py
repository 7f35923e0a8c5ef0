"""``launcher=slurm``: submit a batch of Hydra jobs as one SLURM job array and collect them.

The same executor, sbatch script and pickled jobs as hydra-submitit-launcher's SlurmLauncher;
only the wait differs. Upstream waits on each job's result in turn and raises for the first
job that has none, which ends the whole sweep, and without SLURM accounting (no ``slurmdbd``)
it cannot see that a job ended at all. This launcher follows the jobs with
``soen_train.sweeps.slurm_jobs`` and returns a FAILED job for each one SLURM ended without a
result, so the sweeper records that trial as failed and goes on.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, List, Sequence

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher
from omegaconf import OmegaConf

log = logging.getLogger(__name__)


class SoenSlurmLauncher(SlurmLauncher):
    """SlurmLauncher whose jobs fail one by one instead of ending the sweep."""

    def _executor(self) -> Any:
        """A submitit executor with this launcher's folder and sbatch parameters."""
        import submitit

        params = dict(self.params)
        executor = submitit.AutoExecutor(
            cluster="slurm",
            folder=params.pop("submitit_folder"),
            slurm_max_num_timeout=params.pop("max_num_timeout"),
        )
        generic = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(**{k if k in generic else f"slurm_{k}": v for k, v in params.items()})
        return executor

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        """Submit one array task per job, wait for all, return their results in order."""
        from soen_train.sweeps.slurm_jobs import SlurmJobEnded, wait_for_jobs

        assert self.config is not None and len(job_overrides) > 0
        executor = self._executor()
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        log.info(f"Submitit 'slurm' sweep output dir : {sweep_dir}")
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if "mode" in self.config.hydra.sweep:
            os.chmod(sweep_dir, mode=int(str(self.config.hydra.sweep.mode), 8))
        job_params: List[Any] = []
        for offset, overrides in enumerate(job_overrides):
            idx = initial_job_idx + offset
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
            job_params.append((list(overrides), "hydra.sweep.dir", idx, f"job_id_for_{idx}",
                               Singleton.get_state()))
        jobs = executor.map_array(self, *zip(*job_params))
        log.info("SLURM job array %s: %d task(s)", jobs[0].job_id.split("_")[0], len(jobs))

        def ended(index: int, state: str) -> JobReturn:
            job = jobs[index]
            message = (f"SLURM job {job.job_id} ended {state} without a result (its log: "
                       f"{job.paths.stdout})")
            log.warning("Job #%d: %s", initial_job_idx + index, message)
            return JobReturn(overrides=list(job_overrides[index]), status=JobStatus.FAILED,
                             _return_value=SlurmJobEnded(message))

        results = wait_for_jobs(jobs, ended)
        return [r if isinstance(r, JobReturn) else
                JobReturn(overrides=list(job_overrides[i]), status=JobStatus.FAILED, _return_value=r)
                for i, r in enumerate(results)]
