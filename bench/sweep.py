"""Sweep throughput: trials per minute of an Optuna sweep run by the real `soen-train` command,
with 1 worker (basic launcher, jobs in the sweeper's process) and with 2 workers
(`launcher=joblib`: a pool of worker processes that lives for the whole sweep), and the per-job
overhead. With `--launcher slurm` the workers are SLURM array tasks (`launcher=slurm`,
`hydra.sweeper.n_jobs` = `array_parallelism` = workers, 1 CPU each) on the cluster `sinfo`
answers for (e.g. the one of `make services`).

Trials of about `--trial-seconds` seconds of training each (default: 2 and 10): a warm-up run
measures the training time per epoch on this machine now and sets the epochs per trial.

Per job: wall time = from Hydra saving the job's `.hydra/hydra.yaml` (just before the task
starts) to the last write of its `soen_result.json`; training time = the `train_seconds` the
result records per repeat (Trainer.fit only); overhead = wall - training (config, data, model
build, loggers, test pass, result writing; plus the imports in the first job of each process).
The machine's load average (1 min) is printed before and after each sweep: on a shared machine
the figures only mean something next to it. Besides the whole command's trials/min, each sweep
prints the time before its first job and after its last, and the trials/min from the first
job's start to the last job's end (what a long sweep approaches: the start-up is paid once).

SLURM mode also gives the per-trial overhead from SLURM's job start (`StartTime`, whole
seconds) to the job's first training step (wall time of its first `train_loss_step` event in
TensorBoard).

    python bench/sweep.py [--trials 8] [--trial-seconds 2 10] [--workers 1 2] [--logger both]
    python bench/sweep.py --epochs 2          # a fixed number of epochs per trial instead
    python bench/sweep.py --log-freq 50       # metrics every 50 steps (the default) instead of every step
    python bench/sweep.py --launcher slurm --trials 6 --epochs 110 --n-train 384  # ~10 s/trial
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

SOEN_TRAIN = str(Path(sys.executable).with_name("soen-train"))

#: The tiny pulses job of the end-to-end tests (~1 s of training per job on one core).
TINY_JOB = [
    "experiment=pulses",
    "data.dataset_params.n_val=32",
    "data.dataset_params.n_test=32",
    "data.dataset_params.seq_len=32",
    "logging.progress_bar=false",
]


@dataclass
class JobTiming:
    """One job of a sweep: wall time, time inside Trainer.fit, both in seconds."""

    number: int
    wall_s: float
    train_s: float
    logs_dirs: list[str] = field(default_factory=list)
    #: the process that ran the job (its pid; persistent workers run several jobs)
    worker_pid: int = 0
    #: wall-clock times (s since the epoch) the job started and ended
    started: float = 0.0
    ended: float = 0.0

    @property
    def overhead_s(self) -> float:
        """Seconds of the job spent outside training."""
        return self.wall_s - self.train_s


@dataclass
class SweepTiming:
    """One sweep: how many workers, its total wall time (s) and its jobs."""

    workers: int
    trials: int
    command_s: float
    jobs: list[JobTiming]
    #: SLURM mode: seconds from each job's SLURM start to its first training step
    start_to_first_step_s: list[float] = field(default_factory=list)
    #: the machine's 1-minute load average before and after the sweep
    load: tuple[float, float] = (0.0, 0.0)
    #: wall-clock times (s since the epoch) the command started and ended
    started: float = 0.0
    ended: float = 0.0

    @property
    def trials_per_minute(self) -> float:
        """Trials finished per minute of the whole command (start-up included)."""
        return 60.0 * self.trials / self.command_s

    @property
    def steady_trials_per_minute(self) -> float:
        """Trials per minute from the first job's start to the last job's end: the rate of a
        long sweep, whose fixed start-up (imports, config checks, study set-up) is spread
        over many trials."""
        span = max(j.ended for j in self.jobs) - min(j.started for j in self.jobs)
        return 60.0 * self.trials / span


def job_timings(sweep_dir: Path) -> list[JobTiming]:
    """Wall and training seconds of every job folder of a finished sweep."""
    timings = []
    for job in sorted(
        (p for p in sweep_dir.iterdir() if p.name.isdigit()), key=lambda p: int(p.name)
    ):
        result_file = job / "soen_result.json"
        started = (job / ".hydra" / "hydra.yaml").stat().st_mtime
        result = json.loads(result_file.read_text())
        if result["status"] != "completed":
            raise RuntimeError(f"job {job} ended {result['status']}: {result['error']}")
        train = sum(r["train_seconds"] for r in result["repeats"])
        ended = result_file.stat().st_mtime
        timings.append(JobTiming(int(job.name), ended - started, train,
                                 [r["logs_dir"] for r in result["repeats"]],
                                 result.get("worker", {}).get("pid", 0), started, ended))
    return timings


def run(args: list[str], cwd: Path, env: dict) -> float:
    """Run soen-train with `args` in `cwd`; returns its wall time in seconds."""
    started = time.perf_counter()
    out = subprocess.run(
        [SOEN_TRAIN, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - started
    if out.returncode != 0:
        raise RuntimeError(f"soen-train {' '.join(args)} failed:\n{out.stderr[-4000:]}")
    return elapsed


def slurm_start_times(sweep_dir: Path) -> dict[str, float]:
    """SLURM's start time (epoch seconds) of every job of a sweep, by submitit job id
    (``<array>_<task>``). Read with ``scontrol``, which keeps finished jobs ``MinJobAge`` s."""
    arrays = {p.name.split("_")[0] for p in (sweep_dir / ".submitit").iterdir() if p.name[0].isdigit()}
    starts = {}
    for array in sorted(arrays):
        out = subprocess.run(["scontrol", "show", "job", array, "-o"], capture_output=True,
                             text=True, check=True)
        for line in out.stdout.splitlines():
            fields = dict(w.split("=", 1) for w in line.split() if "=" in w)
            key = f"{array}_{fields['ArrayTaskId']}" if "ArrayTaskId" in fields else fields["JobId"]
            starts[key] = datetime.fromisoformat(fields["StartTime"]).timestamp()
    return starts


def first_step_time(logs_dir: str) -> float:
    """Wall time (epoch seconds) of the first training step a repeat logged to TensorBoard."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(logs_dir)
    events.Reload()
    return min(e.wall_time for e in events.Scalars("train_loss_step"))


def start_to_first_step(sweep_dir: Path, jobs: list[JobTiming]) -> list[float]:
    """Per job: seconds from SLURM starting it to its first training step."""
    import yaml

    starts = slurm_start_times(sweep_dir)
    delays = []
    for job in jobs:
        hydra = yaml.safe_load((sweep_dir / str(job.number) / ".hydra" / "hydra.yaml").read_text())
        delays.append(first_step_time(job.logs_dirs[0]) - starts[str(hydra["hydra"]["job"]["id"])])
    return delays


def sweep(root: Path, workers: int, trials: int, base: list[str], env: dict,
          launcher: str = "local", tag: str = "") -> SweepTiming:
    """An Optuna sweep of `trials` trials over the learning rate with `workers` workers
    (processes of this machine, or SLURM array tasks with `launcher="slurm"`), into
    `root/sweep_<tag><workers>w`."""
    sweep_dir = root / f"sweep_{tag}{workers}w"
    args = [
        "-m",
        *base,
        "hydra/sweeper=optuna",
        f"hydra.sweeper.n_trials={trials}",
        f"hydra.sweeper.n_jobs={workers}",
        "hydra.sweeper.sampler.seed=0",
        f"hydra.sweeper.study_name=bench_{workers}w",
        f"hydra.sweep.dir={sweep_dir}",
        "training.lr=tag(log, interval(1e-3, 1e-1))",
    ]
    if launcher == "slurm":
        args += ["launcher=slurm", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=2",
                 f"hydra.launcher.array_parallelism={workers}"]
    elif workers > 1:
        args += ["launcher=joblib", f"hydra.launcher.n_jobs={workers}"]
    load_before = os.getloadavg()[0]
    started = time.time()
    command_s = run(args, root, env)
    load = (load_before, os.getloadavg()[0])
    jobs = job_timings(sweep_dir)
    delays = start_to_first_step(sweep_dir, jobs) if launcher == "slurm" else []
    return SweepTiming(workers, trials, command_s, jobs, delays, load, started, time.time())


def report(result: SweepTiming) -> None:
    """Print one sweep's figures."""
    jobs = result.jobs
    kind = "SLURM array task(s)" if result.start_to_first_step_s else "worker(s)"
    print(
        f"\n{result.workers} {kind}: {result.trials} trials in {result.command_s:.1f} s "
        f"-> {result.trials_per_minute:.1f} trials/min (load average {result.load[0]:.2f} "
        f"before, {result.load[1]:.2f} after)"
    )
    for label, values in (
        ("per job wall    ", [j.wall_s for j in jobs]),
        ("        train   ", [j.train_s for j in jobs]),
        ("        overhead", [j.overhead_s for j in jobs]),
    ):
        print(
            f"  {label} mean {statistics.mean(values):6.2f} s  median "
            f"{statistics.median(values):6.2f} s  min {min(values):6.2f} s  "
            f"max {max(values):6.2f} s"
        )
    # The first job of each worker process may pay imports the worker did not make before (every
    # SLURM job is a new process and pays them all).
    firsts = {}
    for job in sorted(jobs, key=lambda j: j.number):
        firsts.setdefault(job.worker_pid or job.number, job.number)
    first = [j.overhead_s for j in jobs if j.number in firsts.values()]
    later = [j.overhead_s for j in jobs if j.number not in firsts.values()]
    if not result.start_to_first_step_s:
        print(f"  worker processes: {len(firsts)} ran the {len(jobs)} jobs")
    if later and not result.start_to_first_step_s:
        print(
            f"  overhead of the first job per worker (imports included) mean "
            f"{statistics.mean(first):.2f} s; of later jobs mean {statistics.mean(later):.2f} s"
        )
    if result.start_to_first_step_s:
        delays = result.start_to_first_step_s
        print(f"  SLURM job start -> first training step: mean {statistics.mean(delays):.2f} s  "
              f"min {min(delays):.2f} s  max {max(delays):.2f} s (start time in whole seconds)")
    walls = [j.wall_s for j in jobs]
    startup = result.command_s - sum(walls) / result.workers
    print(f"  sweep start-up + scheduling outside jobs: ~{startup:.1f} s")
    before = min(j.started for j in jobs) - result.started
    print(f"  command start -> first job start: {before:.1f} s; last job end -> command end: "
          f"{result.ended - max(j.ended for j in jobs):.1f} s; from the first job's start to the "
          f"last job's end: {result.steady_trials_per_minute:.1f} trials/min")


def train_seconds(job_dir: Path) -> float:
    """Seconds inside Trainer.fit of a finished job (all its repeats)."""
    result = json.loads((job_dir / "soen_result.json").read_text())
    return sum(r["train_seconds"] for r in result["repeats"])


def main(argv: list[str] | None = None) -> None:
    """Run the sweeps and print trials/min and the per-job overhead."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--trial-seconds", type=float, nargs="+", default=[2.0, 10.0],
                        help="training seconds per trial to aim at (sets the epochs)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="a fixed number of epochs per trial instead of --trial-seconds")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--logger", default="both", choices=["both", "tensorboard", "mlflow"])
    parser.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS of every job")
    parser.add_argument("--launcher", default="local", choices=["local", "slurm"],
                        help="local: the sweeper's process / joblib; slurm: SLURM job arrays")
    parser.add_argument("--n-train", type=int, default=384, help="training samples per trial")
    parser.add_argument("--log-freq", type=int, default=1,
                        help="logging.log_freq: steps between metric logs (1: every step, the worst "
                             "case for a shared MLflow store; the framework's default is 50)")
    opts = parser.parse_args(argv)
    env = {**os.environ, "OMP_NUM_THREADS": str(opts.threads), "PYTHONUNBUFFERED": "1"}
    with tempfile.TemporaryDirectory(prefix="soen_sweep_bench_") as tmp:
        root = Path(tmp)
        base = [
            *TINY_JOB,
            f"data.dataset_params.n_train={opts.n_train}",
            f"logger={opts.logger}",
            f"logging.log_freq={opts.log_freq}",
            f"logging.project_dir={root / 'experiments'}",
            f"data.data_path={root / 'pulses.h5'}",
        ]
        # Warm-up: builds the dataset and the MLflow store once, so no sweep pays for them,
        # and measures the training seconds per epoch.
        warm_epochs = opts.epochs or 5
        warm = run([*base, f"training.max_epochs={warm_epochs}", f"hydra.run.dir={root / 'warmup'}"],
                   root, env)
        per_epoch = train_seconds(root / "warmup") / warm_epochs
        if opts.epochs:
            plans = [(f"{opts.epochs} epochs", opts.epochs)]
        else:
            plans = [(f"~{t:g} s", max(1, round(t / per_epoch))) for t in opts.trial_seconds]
        print(
            f"cpu cores: {os.cpu_count()}, OMP_NUM_THREADS={opts.threads}, logger={opts.logger}, "
            f"{opts.n_train} training samples, launcher {opts.launcher}; warm-up single run "
            f"{warm:.1f} s, {per_epoch:.3f} s of training per epoch"
        )
        for label, epochs in plans:
            print(f"\n=== trials of {label} of training ({epochs} epochs each)")
            trial_base = [*base, f"training.max_epochs={epochs}"]
            results = [sweep(root, w, opts.trials, trial_base, env, opts.launcher, f"{epochs}ep_")
                       for w in opts.workers]
            for result in results:
                report(result)
            first = results[0]
            for other in results[1:]:
                print(
                    f"\nspeed-up {other.workers} vs {first.workers} worker(s)/task(s) on {label} "
                    f"trials: {other.trials_per_minute / first.trials_per_minute:.2f}x (whole "
                    f"command), {other.steady_trials_per_minute / first.steady_trials_per_minute:.2f}x "
                    "(first job start to last job end)"
                )


if __name__ == "__main__":
    main()
