"""``ThreadExecutor``: the parallel search loop's executor contract, with trials on threads.

Each trial runs through ``run_remote_trial``, as a Ray worker runs it, so tests of the
loop (``test_parallel.py``, ``test_parallel_fidelity.py``) need no Ray.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from nasxfer.executors.remote import run_remote_trial
from nasxfer.executors.remote import WorkerLost


class ThreadExecutor:
    """Trials on threads; ``lose(number, attempt)`` says when a trial's "worker" dies."""

    name = "threads"

    def __init__(self, evaluator, slots=2, lose=lambda number, attempt: False):
        self.evaluator, self.slots, self.lose = evaluator, slots, lose
        self.pool = ThreadPoolExecutor(slots)
        self.attempts = Counter()
        self.tasks = []
        self.cancelled = []

    def describe(self):
        return {"name": self.name, "slots": self.slots}

    def submit(self, config, task):
        self.attempts[task.plan.number] += 1
        self.tasks.append(task)
        return self.pool.submit(self._run, config, task, self.attempts[task.plan.number])

    def _run(self, config, task, attempt):
        if self.lose(task.plan.number, attempt):
            raise WorkerLost("simulated worker death")
        return run_remote_trial(config, task, self.evaluator, {"thread": threading.get_ident()})

    def ready(self, handles, timeout):
        done, _ = wait(handles, timeout=timeout, return_when=FIRST_COMPLETED)
        return [h for h in handles if h in done]

    def result(self, handle):
        return handle.result()

    def cancel(self, handles):
        self.cancelled.extend(handles)

    def close(self):
        self.pool.shutdown(wait=True)


def started_events(store):
    return [e for e in store.events() if e["event"] == "trial_started"]
