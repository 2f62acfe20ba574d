"""Trials as Ray tasks, on this machine or a Ray cluster: the executor for ``executor.name: ray``.

Each trial attempt is one task that asks Ray for ``cpus_per_trial`` CPUs and
``gpus_per_trial`` GPUs; Ray places it on a node with them free and sets
``CUDA_VISIBLE_DEVICES``, so the trial's ``cuda`` is the GPU it was given. The task runs
``remote.run_remote_trial`` on a ``TrialTask`` (the plan, and a promotion's checkpoint) and
returns a ``RemoteTrial``; the driver writes the run folder.

Data: the driver's evaluator, holding the dataset it loaded for the run (``prepare``), is
put into Ray's object store once. A worker process fetches it on its first trial and keeps
it (``_WORKER_EVALUATOR``); Ray reuses worker processes, so later trials on that worker
neither fetch nor read the data again. The reference travels inside a list so that Ray
does not fetch it for every task. A worker whose device differs from the driver's (a GPU
worker of a CPU-only driver) loads the data itself, once, from its own disk.

Ray's own task retries are off (``max_retries=0``): a lost worker is reported to the
search loop as ``WorkerLost``, which journals the re-queue and counts it.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import socket
import threading
from typing import Any

from nasxfer.config import Config
from nasxfer.errors import ConfigError, NasxferError
from nasxfer.executors.remote import WorkerLost

# Errors that mean the trial's process, node or result is gone, not that the trial failed.
_LOST = (
    "WorkerCrashedError",
    "NodeDiedError",
    "LocalRayletDiedError",
    "OutOfMemoryError",  # Ray's memory monitor killed the worker (host memory, not CUDA's)
    "ObjectLostError",  # the result was lost with its node (OwnerDiedError and others derive from it)
    "RaySystemError",
)

_WORKER_EVALUATOR: dict[str, Any] = {}  # in a worker process: the driver's evaluator, by object id

RAY_INSTALL = "pip install 'nasxfer[ray]'"


def require_ray():
    """The ``ray`` module, or the one-line error that says how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"executor.name: 'ray' needs Ray, which is not installed ({RAY_INSTALL})") from None
    return ray



class RayExecutor:
    """Runs trials as Ray tasks; see the module docstring."""

    name = "ray"

    def __init__(self, config: Config, evaluator: Any):
        ray = self.ray = require_ray()
        settings = config.executor
        self.started_ray = not ray.is_initialized()
        if self.started_ray:
            _init(ray, settings.address)
        self.evaluator = None
        try:
            nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
            gpus = sum(float(n.get("GPU", 0)) for n in nodes)
            self.gpus_per_trial = _gpus_per_trial(settings.gpus_per_trial, gpus, config.train.device)
            self.cpus_per_trial = settings.cpus_per_trial
            fits = _fits(nodes, self.cpus_per_trial, self.gpus_per_trial)  # refuses a trial no node can hold
            self.slots = settings.max_concurrent or fits
            # One torch thread per CPU Ray gave the trial, so trials side by side do not fight for cores.
            self.threads = max(1, int(self.cpus_per_trial))
            self.cluster = {"nodes": len(nodes), "CPU": sum(float(n.get("CPU", 0)) for n in nodes), "GPU": gpus}
            self.task = ray.remote(_ray_trial).options(
                num_cpus=self.cpus_per_trial, num_gpus=self.gpus_per_trial, max_retries=0
            )
            self.evaluator = ray.put(evaluator)
        except BaseException:
            self.close()
            raise

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "slots": self.slots,
            "cpus_per_trial": self.cpus_per_trial,
            "gpus_per_trial": self.gpus_per_trial,
            "cluster": self.cluster,
        }

    def submit(self, config: Config, task):
        return self.task.remote(config, task, [self.evaluator], self.threads)

    def ready(self, handles: list, timeout: float) -> list:
        first, _ = self.ray.wait(handles, num_returns=1, timeout=timeout)
        if not first:
            return []
        ready, _ = self.ray.wait(handles, num_returns=len(handles), timeout=0)  # any others done meanwhile
        return ready

    def result(self, handle):
        exceptions = self.ray.exceptions
        lost = tuple(getattr(exceptions, name) for name in _LOST if hasattr(exceptions, name))
        try:
            return self.ray.get(handle)
        except lost as exc:
            raise WorkerLost(_first_line(exc)) from exc
        except exceptions.RayTaskError as exc:
            # Raised outside the trial code (which turns its own errors into failed records):
            # the worker could not import nasxfer, unpickle the evaluator, … Its cause says what.
            cause = getattr(exc, "cause", None)
            if isinstance(cause, Exception):
                raise cause from exc
            raise

    def cancel(self, handles: list) -> None:
        for handle in handles:
            try:
                # force: a trial may sit in a CUDA kernel for a while; its worker is simply ended.
                self.ray.cancel(handle, force=True)
            except Exception:  # noqa: BLE001 - already finished or gone: nothing to cancel
                pass

    def close(self) -> None:
        self.evaluator = None
        if self.started_ray and self.ray.is_initialized():
            self.ray.shutdown()


def _init(ray, address: str) -> None:
    """Start or join a Ray runtime quietly; keep the caller's SIGTERM handler."""
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if in_main_thread else None
    options: dict[str, Any] = dict(
        log_to_driver=False,  # trials report through the journal; the library never prints
        logging_level=logging.ERROR,
    )
    if address == "local":
        options["include_dashboard"] = False
    try:
        ray.init(address=address, **options)
    except ConnectionError as exc:
        raise NasxferError(
            f"executor.address: cannot reach a Ray cluster at '{address}' ({_first_line(exc)}); "
            "start one with `ray start --head`, or use address: local"
        ) from None
    finally:
        # ray.init installs its own SIGTERM handler; the CLI's stops the search cleanly instead.
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _gpus_per_trial(asked: float | None, cluster_gpus: float, device: str) -> float:
    """``gpus_per_trial``, with None resolved: a GPU each when there are GPUs to use."""
    if asked is None:
        return 1.0 if cluster_gpus >= 1 and device in ("auto", "cuda") else 0.0
    if asked > cluster_gpus:
        raise NasxferError(
            f"executor.gpus_per_trial: {asked:g} per trial, but the Ray cluster has {cluster_gpus:g} GPUs "
            "(lower it, or set it to 0 to train on CPUs)"
        )
    return asked


def _fits(nodes: list[dict[str, float]], cpus_per_trial: float, gpus_per_trial: float) -> int:
    """How many trials the cluster's nodes hold at once, as they are now."""
    total = 0
    for resources in nodes:
        fits = math.floor(float(resources.get("CPU", 0)) / cpus_per_trial + 1e-9)
        if gpus_per_trial > 0:
            fits = min(fits, math.floor(float(resources.get("GPU", 0)) / gpus_per_trial + 1e-9))
        total += fits
    if total == 0:
        largest = max(nodes, key=lambda r: (r.get("GPU", 0), r.get("CPU", 0)), default={})
        raise NasxferError(
            f"executor.cpus_per_trial: no node of the Ray cluster has {cpus_per_trial:g} CPUs and "
            f"{gpus_per_trial:g} GPUs for one trial (the largest has {largest.get('CPU', 0):g} CPUs, "
            f"{largest.get('GPU', 0):g} GPUs); lower cpus_per_trial or gpus_per_trial"
        )
    return total


def _first_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text.splitlines()[0][:300]


def _ray_trial(config: Config, task, evaluator_box: list, threads: int):
    """The Ray task: one attempt at one trial, in a worker process."""
    import time

    import ray
    import torch

    from nasxfer.executors.remote import run_remote_trial
    from nasxfer.training.threads import reserve_cpus

    torch.set_num_threads(threads)
    reserve_cpus(threads)  # train.threads auto: the CPUs this trial reserved
    ref = evaluator_box[0]
    cached = ref.hex() in _WORKER_EVALUATOR
    fetching = time.perf_counter()
    if not cached:
        _WORKER_EVALUATOR.clear()  # another search's evaluator: done with it
        _WORKER_EVALUATOR[ref.hex()] = ray.get(ref)
    worker = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "gpus": [str(g) for g in ray.get_gpu_ids()],
        "evaluator_cached": cached,
        "fetch_seconds": round(time.perf_counter() - fetching, 4),  # getting the evaluator and its data
    }
    return run_remote_trial(config, task, _WORKER_EVALUATOR[ref.hex()], worker)
