"""Does a SLURM job request fit the cluster? Asked before anything is submitted.

SLURM accepts a job that no node of its partition can ever run and leaves it pending
(reason ``PartitionConfig`` and friends) forever; the sweep would wait without a word. This
module reads what the partition offers (``scontrol show partition`` / ``scontrol show node``)
and compares it with the launcher's request, and recognises the pending reasons that will not
clear by themselves. Plain Python + subprocess; the Hydra callback that calls it lives in
``soen_train.config.slurm_callback``.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from typing import Dict, List, Optional

from soen_train.errors import SlurmRequestError

#: Pending reasons that only an administrator or a changed request can clear.
HOPELESS_PENDING_REASONS = frozenset({
    "PartitionConfig", "PartitionNodeLimit", "PartitionTimeLimit", "BadConstraints",
    "InvalidAccount", "InvalidQOS", "AccountNotAllowed", "QOSNotAllowed", "PartitionDown",
    "PartitionInactive", "NodeDown", "ReqNodeNotAvail",
})


@dataclass
class JobRequest:
    """What the launcher asks SLURM for, per job (memory in GB, time in minutes)."""

    partition: Optional[str] = None
    nodes: int = 1
    tasks_per_node: int = 1
    cpus_per_task: int = 1
    mem_gb: Optional[float] = None
    gpus_per_node: Optional[int] = None
    timeout_min: Optional[int] = None


@dataclass
class PartitionOffer:
    """What the biggest node of a partition has (memory in MB, max time in minutes)."""

    name: str
    nodes: int
    cpus_per_node: int
    mem_mb_per_node: int
    gpus_per_node: int
    max_time_min: Optional[int]
    state: str

    def describe(self) -> str:
        """One line for error messages: what the partition's nodes offer at most."""
        time = "unlimited" if self.max_time_min is None else f"{self.max_time_min} min"
        return (f"partition {self.name} ({self.state}) offers {self.nodes} node(s) with at most "
                f"{self.cpus_per_node} CPUs, {self.mem_mb_per_node / 1024:.1f} GB memory and "
                f"{self.gpus_per_node} GPUs per node, time limit {time}")


def _fields(line: str) -> Dict[str, str]:
    return dict(word.split("=", 1) for word in line.split() if "=" in word)


def _scontrol(*args: str) -> List[Dict[str, str]]:
    try:
        out = subprocess.run(["scontrol", "show", *args, "-o"], capture_output=True, text=True,
                             timeout=30, check=False)
    except FileNotFoundError:
        raise SlurmRequestError("launcher=slurm: no `scontrol` on PATH; run the sweep on a "
                                "SLURM login node") from None
    if out.returncode != 0:
        raise SlurmRequestError(f"launcher=slurm: `scontrol show {' '.join(args)}` failed: "
                                f"{out.stderr.strip() or out.stdout.strip()}")
    return [_fields(line) for line in out.stdout.splitlines() if line.strip()]


def _minutes(text: str) -> Optional[int]:
    """SLURM's [days-]hours:minutes:seconds (or UNLIMITED) as minutes."""
    if text.upper() in ("UNLIMITED", "INFINITE", "NONE"):
        return None
    days, _, rest = text.rpartition("-")
    parts = [int(p) for p in rest.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0)
    h, m, s = parts
    return (int(days) if days else 0) * 1440 + h * 60 + m + (1 if s else 0)


def _gpus(gres: str) -> int:
    """GPUs in a node's Gres field, e.g. ``gpu:a100:4(S:0-1)`` -> 4."""
    total = 0
    for item in gres.split(","):
        match = re.match(r"gpu(?::[^:(]+)?:(\d+)", item)
        if match:
            total += int(match.group(1))
    return total


def partition_offer(name: Optional[str]) -> PartitionOffer:
    """The named partition (None: the default one) as seen by ``scontrol``."""
    partitions = _scontrol("partition")
    names = [p.get("PartitionName", "?") for p in partitions]
    if name is None:
        chosen = next((p for p in partitions if p.get("Default") == "YES"), None)
        if chosen is None:
            raise SlurmRequestError(f"hydra.launcher.partition=null but the cluster has no default "
                                    f"partition; valid: {', '.join(names)}")
    else:
        chosen = next((p for p in partitions if p.get("PartitionName") == name), None)
        if chosen is None:
            raise SlurmRequestError(f"hydra.launcher.partition={name}: no such partition; valid: "
                                    f"{', '.join(names)}")
    pname = chosen["PartitionName"]
    nodes = [n for n in _scontrol("node") if pname in n.get("Partitions", "").split(",")]
    max_cpus = chosen.get("MaxCPUsPerNode", "UNLIMITED")
    cpus = max((int(n.get("CPUTot", 0)) for n in nodes), default=0)
    if max_cpus.isdigit():
        cpus = min(cpus, int(max_cpus))
    mem = max((int(n.get("RealMemory", 0)) for n in nodes), default=0)
    return PartitionOffer(
        name=pname, nodes=len(nodes), cpus_per_node=cpus, mem_mb_per_node=mem,
        gpus_per_node=max((_gpus(n.get("Gres", "")) for n in nodes), default=0),
        max_time_min=_minutes(chosen.get("MaxTime", "UNLIMITED")), state=chosen.get("State", "?"),
    )


def request_problems(req: JobRequest, offer: PartitionOffer) -> List[str]:
    """Each way ``req`` exceeds ``offer``, as `key=value` phrases (empty: it fits)."""
    problems = []
    if req.nodes > offer.nodes:
        problems.append(f"hydra.launcher.nodes={req.nodes}")
    cpus = req.cpus_per_task * req.tasks_per_node
    if cpus > offer.cpus_per_node:
        problems.append(f"hydra.launcher.cpus_per_task={req.cpus_per_task} x "
                        f"tasks_per_node={req.tasks_per_node} = {cpus} CPUs per node")
    if req.mem_gb is not None and req.mem_gb * 1024 > offer.mem_mb_per_node:
        problems.append(f"hydra.launcher.mem_gb={req.mem_gb:g}")
    if req.gpus_per_node and req.gpus_per_node > offer.gpus_per_node:
        problems.append(f"hydra.launcher.gpus_per_node={req.gpus_per_node}")
    if req.timeout_min is not None and offer.max_time_min is not None \
            and req.timeout_min > offer.max_time_min:
        problems.append(f"hydra.launcher.timeout_min={req.timeout_min}")
    if offer.state != "UP":
        problems.append(f"partition state {offer.state}")
    return problems


def check_request(req: JobRequest) -> PartitionOffer:
    """Raise one `SlurmRequestError` line when ``req`` can never run; the offer otherwise."""
    offer = partition_offer(req.partition)
    problems = request_problems(req, offer)
    if problems:
        raise SlurmRequestError(f"launcher=slurm: the job request {'; '.join(problems)} cannot be "
                                f"satisfied: {offer.describe()}")
    return offer


def hopeless_pending_jobs(job_name: str, work_dir: str) -> List[Dict[str, str]]:
    """This sweep's jobs (by name and working directory) pending for a reason that will not clear."""
    out = subprocess.run(["squeue", "-h", "-t", "PENDING", "-o", "%i|%j|%r|%Z"],
                         capture_output=True, text=True, timeout=30, check=False)
    stuck = []
    for line in out.stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) != 4:
            continue
        job_id, name, reason, wd = parts
        if name == job_name and wd == work_dir and reason in HOPELESS_PENDING_REASONS:
            stuck.append({"job_id": job_id, "reason": reason})
    return stuck
