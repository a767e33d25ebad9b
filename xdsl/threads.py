"""How many threads torch computes with: the CPUs this process may use, not the machine's.

torch starts as many threads as the machine has cores. A process confined to fewer (an
affinity mask from ``taskset``, Slurm or a Kubernetes cpuset; a cgroup CPU quota from
``docker --cpus``), or sharing its cores with data-loading workers, then runs more threads than
it has cores, and every parallel operation waits for its slowest thread: the README's training
demo took 1 min 12 s with one thread and 4–8 min with two on a two-core machine with one core
busy. So the default is the CPUs available to this process (affinity, capped by a cgroup
quota), divided among the processes torchrun starts on this machine, less the data-loading
workers, and at least 1; ``OMP_NUM_THREADS``, when set, and ``--threads`` win.

The default deliberately ignores the machine's load: the thread count can change a
reduction's rounding, and a run resumed on the same machine must compute what the first part
computed. :func:`busy_note` only says when other processes keep the cores busy.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click

CGROUP_V2 = Path("/sys/fs/cgroup/cpu.max")
CGROUP_V1 = (Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
             Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us"))
PROC_STAT = Path("/proc/stat")


def quota_cpus(quota: str, period: str) -> int | None:
    """CPUs a cgroup quota allows (``150000`` per ``100000`` µs → 2), ``None`` without one."""
    try:
        q, p = int(quota), int(period)
    except ValueError:  # "max": no quota
        return None
    return max(1, math.ceil(q / p)) if q > 0 and p > 0 else None


def cgroup_cpus() -> int | None:
    """The CPU quota of this process's cgroup (v2 ``cpu.max`` or v1 ``cfs_quota_us``)."""
    try:
        if CGROUP_V2.exists():
            quota, _, period = CGROUP_V2.read_text().strip().partition(" ")
            return quota_cpus(quota, period or "100000")
        quota_file, period_file = CGROUP_V1
        if quota_file.exists() and period_file.exists():
            return quota_cpus(quota_file.read_text().strip(), period_file.read_text().strip())
    except OSError:
        pass
    return None


def affinity() -> set[int] | None:
    """The CPUs this process may run on (``None`` where the system does not say)."""
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows
        return None


def available_cpus() -> int:
    """CPUs this process may use: its affinity mask (else the machine's count), capped by a
    cgroup CPU quota."""
    cpus = affinity()
    count = len(cpus) if cpus else (os.cpu_count() or 1)
    quota = cgroup_cpus()
    return max(1, min(count, quota) if quota else count)


def default_threads(workers: int = 0, env: Mapping[str, str] | None = None,
                    cpus: int | None = None) -> int:
    """``OMP_NUM_THREADS`` when set; else the available CPUs shared among this machine's
    processes (torchrun's ``LOCAL_WORLD_SIZE``), less ``workers``, at least 1."""
    env = os.environ if env is None else env
    given = env.get("OMP_NUM_THREADS", "").strip()
    if given.isdigit() and int(given) > 0:
        return int(given)
    cpus = available_cpus() if cpus is None else cpus
    local = env.get("LOCAL_WORLD_SIZE", "").strip()
    per_process = cpus // int(local) if local.isdigit() and int(local) > 0 else cpus
    return max(1, per_process - workers)


def choose_threads(requested: int | None, workers: int = 0) -> int:
    """``requested`` (``--threads``) or :func:`default_threads` for this process."""
    return requested if requested is not None else default_threads(workers)


def apply(threads: int) -> int:
    """Make torch compute with ``threads`` threads; returns the count torch reports."""
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def _cpu_times(text: str) -> dict[int, tuple[int, int]]:
    """CPU number → (busy, total) jiffies from the text of ``/proc/stat``."""
    out: dict[int, tuple[int, int]] = {}
    for line in text.splitlines():
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit():
            values = [int(v) for v in fields[:8]]
            idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
            out[int(name[3:])] = (sum(values) - idle, sum(values))
    return out


def busy_between(before: str, after: str, cpus: set[int] | None, threshold: float = 0.5) -> int:
    """How many of ``cpus`` (all when ``None``) were busy more than ``threshold`` of the time
    between two readings of ``/proc/stat``."""
    a, b = _cpu_times(before), _cpu_times(after)
    busy = 0
    for cpu in (cpus if cpus is not None else set(a)) & set(a) & set(b):
        total = b[cpu][1] - a[cpu][1]
        if total > 0 and (b[cpu][0] - a[cpu][0]) / total > threshold:
            busy += 1
    return busy


def busy_note(threads: int, interval: float = 0.2,
              read: Callable[[], str] | None = None) -> str | None:
    """A note when other processes keep so many of this process's CPUs busy that ``threads``
    threads outnumber the idle ones (sampled for ``interval`` seconds while this thread sleeps);
    ``None`` when they fit or the system does not tell."""
    reader = read or (lambda: PROC_STAT.read_text())
    try:
        before = reader()
        time.sleep(interval)
        after = reader()
    except OSError:
        return None
    cpus = affinity()
    total = len(cpus) if cpus else len(_cpu_times(after))
    busy = busy_between(before, after, cpus)
    idle = total - busy
    if busy == 0 or threads <= max(idle, 1):
        return None
    return (f"{busy} of the {total} CPUs this process may use were busy with other work when "
            f"the run started, and torch computes with {threads} threads; if the steps are "
            f"slow, try --threads {max(idle, 1)}")


MAX_THREADS = 1024
"""The most ``--threads`` accepts (torch would try to start them all)."""


def threads_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--threads N`` (default: :func:`default_threads`)."""
    return click.option(
        "--threads", type=click.IntRange(1, MAX_THREADS), default=None, metavar="N",
        help="Compute with N torch threads.  [default: the CPUs this process may use (its "
             "affinity mask and CPU quota) less the data-loading workers; OMP_NUM_THREADS "
             "when set]")(f)
