"""Where a run stands: being written now, interrupted, or finished, and what to do next.

Every view of a run (``runs``, ``report`` in text, HTML and JSON, ``compare``) shows it, so
that an empty leaderboard of a run that is still starting, or of one that was killed, is not
mistaken for a finished search with nothing in it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterable

from nasxfer.storage.lock import current_holder

STOPPED_BY_REQUEST = "stopped by request"  # the runner's reason for Ctrl-C / SIGTERM: resumable


@dataclass(frozen=True)
class RunStatus:
    state: str  # "running", "interrupted" or "finished"
    reason: str | None = None  # why a finished search stopped
    pid: int | None = None  # who is writing a running one
    host: str | None = None

    def text(self, run_id: str, runs_flag: str = "") -> str:
        """``running (pid 4242 on box)``, ``interrupted — resume with nasxfer search --resume ID``,
        ``finished (trial budget reached (12 trials))``."""
        if self.state == "running":
            return f"running (pid {self.pid if self.pid is not None else '?'} on {self.host or '?'})"
        if self.state == "interrupted":
            return f"interrupted — resume with nasxfer search --resume {run_id}{runs_flag}"
        return f"finished ({self.reason})" if self.reason else "finished"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_status(run_path, events: Iterable[dict[str, Any]]) -> RunStatus:
    """The status of the run at ``run_path`` whose journal ``events`` are given (in order)."""
    holder = current_holder(run_path)
    if holder is not None:
        return RunStatus("running", pid=holder.get("pid"), host=holder.get("host"))
    started = stopped = None
    for event in events:
        if event.get("event") == "search_started":
            started, stopped = event, None  # a later session: its own end (or none) decides
        elif event.get("event") == "search_stopped":
            stopped = event
    if stopped is None or stopped.get("reason") == STOPPED_BY_REQUEST:
        return RunStatus("interrupted")  # killed, stopped, or never started: resumable either way
    return RunStatus("finished", reason=stopped.get("reason"))
