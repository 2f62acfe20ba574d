"""The run folder: resolved config, environment, journal, trial files, leaderboard.

Layout of ``runs/<run-id>/``::

    config.yaml        the resolved config (every default filled in)
    env.json           Python, torch, CUDA, device, git revision, command line
    journal.jsonl      append-only events, one JSON object per line: the truth
    journal.jsonl.torn torn last lines cut off the journal when the run was next opened (forensics)
    leaderboard.csv    a view of the journal, rewritten after each trial
    trials/<n>/trial.json, trials/<n>/model.pt
    final/             written by ``nasxfer finetune``

The journal is the only file whose loss would lose results; everything else can be
regenerated from it. Every other file is written atomically.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

from nasxfer.config import Config, read_yaml_mapping, validate_config
from nasxfer.errors import ConfigError, NasxferError, RunNotFoundError
from nasxfer.storage.faults import crash_point
from nasxfer.storage.atomic import (
    atomic_torch_save,
    atomic_write_json,
    atomic_write_text,
    create_durable_file,
    fsync_directory,
    sha256_file,
)
from nasxfer.storage.lock import RunLock
from nasxfer.search.leaderboard_table import leaderboard_csv
from nasxfer.search.trial import ObjectiveSpec, TrialRecord

RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
LATEST = "latest"


def default_runs_dir() -> Path:
    return Path(os.environ.get("NASXFER_RUNS_DIR", "runs"))


class StorageError(NasxferError):
    """The run folder cannot be written (disk full, read-only, no permission)."""


_STORAGE_ERRNOS = {
    errno.ENOSPC: "no space left on the device (free some space, then resume)",
    errno.EDQUOT: "disk quota exceeded (free some space, then resume)",
    errno.EROFS: "the file system is read-only (use --runs-dir or NASXFER_RUNS_DIR to write elsewhere)",
    errno.EACCES: "permission denied (use --runs-dir or NASXFER_RUNS_DIR to write elsewhere)",
    errno.EPERM: "operation not permitted (use --runs-dir or NASXFER_RUNS_DIR to write elsewhere)",
}


@contextlib.contextmanager
def storage_errors(where: Path):
    """Turn the OS errors a full or read-only disk gives into one clear line."""
    try:
        yield
    except OSError as exc:
        if exc.errno in _STORAGE_ERRNOS:
            raise StorageError(f"cannot write '{where}': {_STORAGE_ERRNOS[exc.errno]}") from exc
        raise


class RunStore:
    """One run's folder. Create with ``RunStore.create``; open an existing one with ``open_run``."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.run_id = self.path.name

    # ----------------------------------------------------------------- creation

    @classmethod
    def create(cls, runs_dir: Path, config: Config, env: dict[str, Any]) -> RunStore:
        """Make a fresh run folder named ``<name>-<YYYYmmdd-HHMMSS>`` (suffixed when taken)."""
        runs_dir = Path(runs_dir)
        with storage_errors(runs_dir):
            runs_dir.mkdir(parents=True, exist_ok=True)
            stem = f"{config.name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
            for attempt in range(1, 1000):
                run_id = stem if attempt == 1 else f"{stem}-{attempt}"
                path = runs_dir / run_id
                try:
                    path.mkdir()  # atomic claim: two searches started in the same second get two folders
                    break
                except FileExistsError:
                    continue
            else:  # pragma: no cover - a thousand runs in one second
                raise RuntimeError("could not find a free run id")
            store = cls(path)
            try:
                create_durable_file(path / "journal.jsonl")
                atomic_write_json(path / "env.json", env)
                # config.yaml last: a folder without it is not a run (resolve_run, list_runs)
                atomic_write_text(path / "config.yaml", config.to_yaml())
            except BaseException:
                _remove_tree(path)  # nothing half-made is left behind
                raise
            point_latest(runs_dir, run_id)
        return store

    def rewrite_config(self, config: Config, changes: dict[str, Any]) -> None:
        """Replace the resolved config (a resumed run's new budget) and journal what changed."""
        with storage_errors(self.path):
            atomic_write_text(self.path / "config.yaml", config.to_yaml())
        self.append("config_changed", changes=changes)

    @contextlib.contextmanager
    def lock(self) -> Iterator[RunLock]:
        """Hold the run's writer lock (a context manager): the run is open for writing.

        Once the lock is held, a torn last journal line is cut off (``cut_torn_journal_line``),
        so the first event appended starts a line of its own instead of being lost with it.
        """
        with RunLock(self.path) as held:
            self.cut_torn_journal_line()
            yield held

    def cut_torn_journal_line(self) -> None:
        """Cut the journal back to its last complete line; the cut bytes (a writer killed
        mid-append) are appended to ``journal.jsonl.torn``, kept for forensics. Call with
        the lock held."""
        path = self.path / "journal.jsonl"
        if not path.exists():
            return
        with storage_errors(self.path), path.open("r+b") as journal:
            size = journal.seek(0, os.SEEK_END)
            whole = _end_of_last_line(journal, size)
            if whole == size:
                return
            journal.seek(whole)
            torn = journal.read()
            # The side file first: a crash between the two leaves the fragment in both, never in neither.
            with (self.path / "journal.jsonl.torn").open("ab") as side:
                side.write(torn)
                side.flush()
                os.fsync(side.fileno())
            journal.truncate(whole)
            journal.flush()
            os.fsync(journal.fileno())

    # ----------------------------------------------------------------- reading

    def config(self) -> Config:
        """The run's resolved config, read with the config loader's limits (size, aliases):
        a tampered ``config.yaml`` is one line naming the run, never a hang."""
        try:
            return validate_config(read_yaml_mapping(self.path / "config.yaml"))
        except ConfigError as exc:
            raise self._damaged(f"config.yaml does not load ({exc})") from None

    def events(self) -> Iterator[dict[str, Any]]:
        """Journal events in order. A torn last line (a kill mid-write) is skipped, and so is a
        line that is not JSON (a torn line that a later session appended to); a line that is
        JSON but not an event object was not written by nasxfer: ``NasxferError``."""
        path = self.path / "journal.jsonl"
        if not path.exists():
            return
        try:
            # errors="replace": undecodable bytes make a line that is not JSON, skipped like a torn one
            with path.open("r", encoding="utf-8", errors="replace") as f:
                for number, line in enumerate(f, 1):
                    if not line.endswith("\n"):
                        break  # the writer died mid-line; everything before it is intact
                    try:
                        event = json.loads(line)
                    except json.JSONDecodeError:
                        continue
                    if not isinstance(event, dict):
                        raise self._damaged(f"journal.jsonl line {number} is not an event object")
                    yield event
        except OSError as exc:
            raise self._damaged(f"journal.jsonl cannot be read ({exc.strerror or exc})") from None

    def history(self) -> list[TrialRecord]:
        """Finished trials, each once, in the order they first finished.

        A trial that a scheduler paused and promoted finishes more than once; the last
        ``trial_finished`` event of a trial number wins (``trial.merge_record``).
        """
        latest: dict[int, TrialRecord] = {}
        for event in self.events():
            if event.get("event") == "trial_finished":
                record = self._trial_record(event)
                latest[record.number] = record  # an existing key keeps its place
        return list(latest.values())

    def _trial_record(self, event: dict[str, Any]) -> TrialRecord:
        try:
            return TrialRecord.from_json(event["trial"])
        except (KeyError, TypeError, ValueError) as exc:
            raise self._damaged(f"journal.jsonl has a trial_finished event without a valid trial record ({exc!r})") from None

    def _trial_number(self, event: dict[str, Any]) -> int:
        """The trial number of a trial event (``trial_started`` and the like, or ``trial_finished``)."""
        number = event["trial"].get("number") if isinstance(event.get("trial"), dict) else event.get("number")
        if not isinstance(number, int) or isinstance(number, bool):
            raise self._damaged(f"journal.jsonl has a {event.get('event')} event without a trial number")
        return number

    def _damaged(self, problem: str) -> NasxferError:
        """The error for a run folder whose files nasxfer did not write as they are."""
        return NasxferError(
            f"run '{self.run_id}': {problem}; was the run folder edited by hand? restore the file, or start a new run"
        )

    def trial_dir(self, number: int) -> Path:
        return self.path / "trials" / f"{number:04d}"

    def interrupted_trial(self) -> dict[str, Any] | None:
        """The ``trial_started`` (or ``trial_promoted``) event of a trial whose training never
        finished (the process died or was stopped), if any."""
        unfinished = self.unfinished_trials()
        return unfinished[-1] if unfinished else None

    def unfinished_trials(self) -> list[dict[str, Any]]:
        """The ``trial_started`` (or ``trial_promoted``) events of every trial whose training
        never finished, by number.

        The sequential loop leaves at most one; a parallel search stopped or killed leaves
        one per trial that was running.
        """
        started: dict[int, dict[str, Any]] = {}
        for event in self.events():
            if event.get("event") in ("trial_started", "trial_promoted"):
                started[self._trial_number(event)] = event
            elif event.get("event") == "trial_finished":
                started.pop(self._trial_number(event), None)
        return [started[number] for number in sorted(started)]

    def trial_overrides(self, number: int) -> dict[str, Any]:
        """The config settings trial ``number`` trains with beyond its values, as journalled:
        the batch size of its last out-of-memory retry (``trial_retry``), if it had one."""
        overrides: dict[str, Any] = {}
        for event in self.events():
            if event.get("event") == "trial_retry" and event.get("number") == number and "batch_size" in event:
                overrides["train.batch_size"] = event["batch_size"]
        return overrides

    def spent_seconds(self) -> float:
        """Search time already spent by earlier sessions of this run (for minute budgets)."""
        return max((e.get("elapsed", 0.0) for e in self.events()), default=0.0)

    def checkpoints(self, number: int) -> TrialCheckpoints:
        return TrialCheckpoints(self, number)

    def supernet_checkpoints(self) -> TrialCheckpoints:
        """A one-shot search's supernet training state per epoch (``supernet/``, journalled as
        ``supernet_checkpoint``); the last epoch's is the trained supernet, so it is kept."""
        return TrialCheckpoints(self, 0, folder=self.path / "supernet", event="supernet_checkpoint")

    # ----------------------------------------------------------------- writing

    def append(self, event: str, **fields: Any) -> None:
        """Append one event to the journal and flush it to disk before returning.

        A line is written with one ``write`` call on a file opened for appending; a kill
        or a full disk can at worst leave a torn last line, which readers skip.
        """
        row = {"event": event, "time": datetime.now().isoformat(timespec="seconds"), **fields}
        line = json.dumps(row, allow_nan=True, separators=(",", ":")) + "\n"
        with storage_errors(self.path), (self.path / "journal.jsonl").open("a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        crash_point(f"journal:{event}")

    def record_trial(
        self,
        record: TrialRecord,
        objective: ObjectiveSpec,
        history: list[TrialRecord] | None = None,
        elapsed: float | None = None,
    ) -> None:
        """Journal a finished trial, then refresh its ``trial.json`` and the leaderboard.

        The journal line is the commit point; the other two are views rebuilt from it.
        ``history`` (including ``record``) saves re-reading the journal for the leaderboard.
        """
        extra = {} if elapsed is None else {"elapsed": elapsed}
        self.append("trial_finished", trial=record.to_json(), **extra)
        with storage_errors(self.path):
            atomic_write_json(self.trial_dir(record.number) / "trial.json", record.to_json())
            self.write_leaderboard(objective, history)

    def write_leaderboard(self, objectives, history: list[TrialRecord] | None = None) -> None:
        history = self.history() if history is None else history
        atomic_write_text(self.path / "leaderboard.csv", leaderboard_csv(history, objectives))


def _end_of_last_line(f, size: int, block: int = 1 << 16) -> int:
    """The offset just past the last newline of the open file ``f`` (0 when it has none)."""
    end = size
    while end > 0:
        start = max(0, end - block)
        f.seek(start)
        newline = f.read(end - start).rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        end = start
    return 0


class TrialCheckpoints:
    """A trial's per-epoch training state, verified against the checksum in the journal.

    Each epoch writes ``checkpoint-e<epoch>.pt`` (atomically), then journals its sha256,
    then deletes the previous one: whenever the process dies, the newest journalled
    checkpoint is intact. A file whose checksum does not match is treated as missing.
    """

    def __init__(self, store: RunStore, number: int, folder: Path | None = None, event: str = "checkpoint"):
        self.store = store
        self.number = number
        self.folder = store.trial_dir(number) if folder is None else folder
        self.event = event  # the journal event of each save; the supernet's are its own (RunStore.supernet_checkpoints)

    def save(self, state: dict[str, Any], epoch: int) -> None:
        path = self.folder / f"checkpoint-e{epoch:04d}.pt"
        with storage_errors(self.store.path):
            digest = atomic_torch_save(path, state)
        self.store.append(self.event, number=self.number, epoch=epoch, file=path.name, sha256=digest)
        for old in self.folder.glob("checkpoint-e*.pt"):
            if old != path:
                old.unlink(missing_ok=True)

    def latest(self) -> dict[str, Any] | None:
        """The newest journalled checkpoint that verifies, loaded; None when there is none."""
        import torch

        recorded = [
            e for e in self.store.events() if e.get("event") == self.event and e.get("number") == self.number
        ]
        for event in reversed(recorded):
            path = self.folder / event["file"]
            if sha256_file(path) == event["sha256"]:
                return torch.load(path, map_location="cpu", weights_only=True)
        return None

    def clear(self) -> None:
        for path in self.folder.glob("checkpoint-e*.pt"):
            path.unlink(missing_ok=True)


# --------------------------------------------------------------------------- run ids


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def point_latest(runs_dir: Path, run_id: str) -> None:
    """Make ``runs/latest`` name ``run_id``: a symlink swapped in atomically."""
    link = Path(runs_dir) / LATEST
    tmp = Path(runs_dir) / f".{LATEST}.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    try:
        os.symlink(run_id, tmp)
        os.replace(tmp, link)
    except OSError:  # a filesystem without symlinks: fall back to a text file
        tmp.unlink(missing_ok=True)
        atomic_write_text(link, run_id + "\n")
    fsync_directory(runs_dir)  # makes both the new run folder's entry and the link durable


def resolve_run(runs_dir: Path, run_id: str) -> RunStore:
    """The run folder for ``run_id`` (or ``latest``), refusing ids that leave ``runs_dir``."""
    runs_dir = Path(runs_dir)
    if run_id == LATEST:
        link = runs_dir / LATEST
        if link.is_symlink():
            run_id = os.readlink(link)
        elif link.is_file():
            run_id = link.read_text().strip()
        else:
            raise RunNotFoundError(f"run 'latest': no runs yet in '{runs_dir}' (start one with nasxfer search CONFIG)")
    if not RUN_ID_PATTERN.match(run_id) or run_id in (".", "..") or run_id == LATEST:
        raise RunNotFoundError(
            f"run '{run_id}': not a run id (letters, digits, '-', '_', '.'; no paths) — see nasxfer runs"
        )
    path = (runs_dir / run_id).resolve()
    if path.parent != runs_dir.resolve():
        raise RunNotFoundError(f"run '{run_id}': outside the runs folder '{runs_dir}'")
    if not (path / "config.yaml").is_file():
        raise RunNotFoundError(f"run '{run_id}': no such run in '{runs_dir}' (list them with nasxfer runs)")
    return RunStore(path)


def list_runs(runs_dir: Path) -> list[RunStore]:
    """Every run folder under ``runs_dir``, oldest first."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    runs = [
        RunStore(p)
        for p in runs_dir.iterdir()
        if p.is_dir() and not p.is_symlink() and (p / "config.yaml").is_file()
    ]
    return sorted(runs, key=lambda r: ((r.path / "config.yaml").stat().st_mtime, r.run_id))
