"""How many CPU threads a trial computes with (``train.threads``), on a box others share.

PyTorch starts one intra-op thread per visible core. When other work keeps those cores
busy, a step's parallel regions wait for threads the kernel has not scheduled, and a step
can take a hundred times longer than with one thread (measured in
``benchmarks/busy_box.py``; the figures are in docs/performance.md). ``auto`` therefore
looks before each trial: the CPUs this process may use (affinity, cgroup quota), the
trials this search runs at once, and how busy the other processes keep those CPUs, and
gives the trial the cores that are free, at least one.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

# How long the CPUs are watched before a trial: long enough to see through a scheduler
# tick, short beside any trial.
WATCH_SECONDS = 0.2
# The auto choice is reused for trials that start within this long of the measurement:
# watching costs WATCH_SECONDS, and a box's load changes over minutes, not between trials.
REMEASURE_SECONDS = 60.0
# A core counts as taken when others keep it busy at least this much of the time; below
# that, a thread of ours still gets it most of the time (see docs/performance.md).
TAKEN_FRACTION = 0.5


@dataclass(frozen=True)
class ThreadChoice:
    """The threads a trial uses and what they were chosen from (recorded in ``env.json``)."""

    setting: str  # train.threads as given: "auto" or a number
    threads: int  # intra-op threads (torch.set_num_threads)
    loader_workers: int  # DataLoader worker processes (stream mode), data.num_workers at most
    usable_cpus: int  # affinity and cgroup quota
    busy_cpus: float | None  # CPUs other processes kept busy just before (auto only)
    concurrent_trials: int

    def to_dict(self) -> dict:
        return asdict(self)


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask, capped by a cgroup CPU quota."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        count = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    if quota is not None:
        count = min(count, max(1, math.floor(quota)))
    return max(1, count)


def cgroup_cpu_quota(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs the cgroup quota allows (cgroup v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us``), or
    None without a quota."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return None if quota <= 0 or period <= 0 else quota / period
    except (OSError, ValueError):
        return None


def busy_cpus(seconds: float = WATCH_SECONDS, stat: Path = Path("/proc/stat")) -> float | None:
    """CPUs (of those this process may use) that other processes kept busy over the next
    ``seconds``: the busy time of those CPUs in ``/proc/stat``, less this process's own CPU
    time. None where ``/proc/stat`` cannot be read.

    Time spent by niced processes (``/proc/stat``'s ``nice`` column) does not count when this
    process runs at normal priority: the scheduler gives a nice-19 job about 1.5 % of a core
    beside ours, so a niced background job takes nothing from a trial's threads. Run niced
    ourselves, niced neighbours compete as equals, and their time counts."""
    try:
        cpus = {f"cpu{i}" for i in os.sched_getaffinity(0)}
    except (AttributeError, OSError):
        cpus = None
    count_niced = _own_niceness() > 0
    before, own_before, wall_before = _cpu_times(stat, cpus, count_niced), time.process_time(), time.monotonic()
    if before is None:
        return None
    time.sleep(seconds)
    after, own_after, wall_after = _cpu_times(stat, cpus, count_niced), time.process_time(), time.monotonic()
    if after is None:
        return None
    total = after[1] - before[1]
    if total <= 0:
        return None
    share = (after[0] - before[0]) / total  # busy fraction of all watched CPU time
    watched = len(cpus) if cpus else (os.cpu_count() or 1)
    own = (own_after - own_before) / max(wall_after - wall_before, 1e-9)
    return max(0.0, share * watched - own)


def choose_threads(setting: str | int, *, concurrent_trials: int = 1, loader_workers: int = 2,
                   measure=busy_cpus) -> ThreadChoice:
    """The threads for the next trial. A number is taken as it is (capped at the usable
    CPUs). ``auto``: this search's fair share of the usable CPUs (usable ÷ trials at once),
    less the cores other processes keep taken, at least one. DataLoader workers are capped
    at the threads chosen, so a busy box is not handed more processes than cores."""
    usable = usable_cpus()
    concurrent = max(1, concurrent_trials)
    busy = None
    if setting == "auto":
        share = max(1, usable // concurrent)
        busy = measure()
        taken = 0 if busy is None else math.floor(busy + (1 - TAKEN_FRACTION))  # 0.5 busy: taken
        threads = max(1, min(share, usable - taken))
    else:
        threads = max(1, min(int(setting), usable))
    return ThreadChoice(
        setting=str(setting),
        threads=threads,
        loader_workers=min(loader_workers, threads),
        usable_cpus=usable,
        busy_cpus=None if busy is None else round(busy, 3),
        concurrent_trials=concurrent,
    )


_reserved_cpus: int | None = None  # set in a Ray worker: the CPUs its trial reserved
_last_auto: tuple[float, tuple, ThreadChoice] | None = None


def reserve_cpus(count: int | None) -> None:
    """Trials in this process run inside a reservation of ``count`` CPUs (a Ray worker's
    ``executor.cpus_per_trial``); ``auto`` then uses exactly that many."""
    global _reserved_cpus
    _reserved_cpus = None if count is None else max(1, int(count))


def current_choice(setting: str | int, loader_workers: int) -> ThreadChoice:
    """``choose_threads`` for the next trial in this process, not applied. Inside a
    reservation (``reserve_cpus``) auto takes the reservation; otherwise an auto choice is
    re-measured at most every ``REMEASURE_SECONDS``, so a run's ``env.json`` and its first
    trial share one measurement."""
    global _last_auto
    if setting == "auto" and _reserved_cpus is not None:
        choice = choose_threads(_reserved_cpus, loader_workers=loader_workers)
        return ThreadChoice("auto", choice.threads, choice.loader_workers, choice.usable_cpus, None, 1)
    if setting != "auto":
        return choose_threads(setting, loader_workers=loader_workers)
    now = time.monotonic()
    if _last_auto is not None and _last_auto[1] == (loader_workers,) and now - _last_auto[0] < REMEASURE_SECONDS:
        return _last_auto[2]
    choice = choose_threads("auto", loader_workers=loader_workers)
    _last_auto = (now, (loader_workers,), choice)
    return choice


def threads_for_trial(setting: str | int, loader_workers: int) -> ThreadChoice:
    """``current_choice`` for the trial about to start, applied to this process."""
    choice = current_choice(setting, loader_workers)
    apply_threads(choice)
    return choice


def apply_threads(choice: ThreadChoice) -> None:
    """Make ``choice`` this process's intra-op thread count."""
    import torch

    if torch.get_num_threads() != choice.threads:
        torch.set_num_threads(choice.threads)


def _own_niceness() -> int:
    try:
        return os.getpriority(os.PRIO_PROCESS, 0)
    except (AttributeError, OSError):
        return 0


def _cpu_times(stat: Path, cpus: set[str] | None, count_niced: bool = True) -> tuple[int, int] | None:
    """(busy, total) jiffies summed over ``cpus`` (every CPU when None) from ``/proc/stat``;
    niced time counts as idle unless ``count_niced``."""
    try:
        lines = stat.read_text().splitlines()
    except OSError:
        return None
    busy = total = 0
    found = False
    for line in lines:
        name, *fields = line.split()
        if not name.startswith("cpu") or name == "cpu" or (cpus is not None and name not in cpus):
            continue
        values = [int(v) for v in fields[:8]]  # user nice system idle iowait irq softirq steal
        idle = values[3] + values[4] + (0 if count_niced else values[1])
        busy += sum(values) - idle
        total += sum(values)
        found = True
    return (busy, total) if found else None
