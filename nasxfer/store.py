"""The run folder: resolved config, environment, journal, trial files, leaderboard.

Layout of ``runs/<run-id>/``::

    config.yaml        the resolved config (every default filled in)
    env.json           Python, torch, CUDA, device, git revision, command line
    journal.jsonl      append-only events, one JSON object per line: the truth
    leaderboard.csv    a view of the journal, rewritten after each trial
    trials/<n>/trial.json, trials/<n>/model.pt
    final/             written by ``nasxfer finetune``

The journal is the only file whose loss would lose results; everything else can be
regenerated from it. Every other file is written atomically.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

from nasxfer.config import Config, safe_load_yaml, validate_config
from nasxfer.errors import RunNotFoundError
from nasxfer.fileio import atomic_write_json, atomic_write_text
from nasxfer.trial import ObjectiveSpec, TrialRecord

RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
LATEST = "latest"


def default_runs_dir() -> Path:
    return Path(os.environ.get("NASXFER_RUNS_DIR", "runs"))


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
        atomic_write_text(path / "config.yaml", config.to_yaml())
        atomic_write_json(path / "env.json", env)
        (path / "journal.jsonl").touch()
        point_latest(runs_dir, run_id)
        return store

    # ----------------------------------------------------------------- reading

    def config(self) -> Config:
        return validate_config(safe_load_yaml((self.path / "config.yaml").read_text()))

    def events(self) -> Iterator[dict[str, Any]]:
        """Journal events in order. A torn last line (a kill mid-write) is skipped."""
        path = self.path / "journal.jsonl"
        if not path.exists():
            return
        with path.open("r", encoding="utf-8") as f:
            for line in f:
                if not line.endswith("\n"):
                    break  # the writer died mid-line; everything before it is intact
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue

    def history(self) -> list[TrialRecord]:
        """Finished trials, in the order they finished."""
        return [TrialRecord.from_json(e["trial"]) for e in self.events() if e.get("event") == "trial_finished"]

    def trial_dir(self, number: int) -> Path:
        return self.path / "trials" / f"{number:04d}"

    # ----------------------------------------------------------------- writing

    def append(self, event: str, **fields: Any) -> None:
        """Append one event to the journal and flush it to disk before returning."""
        row = {"event": event, "time": datetime.now().isoformat(timespec="seconds"), **fields}
        line = json.dumps(row, allow_nan=True, separators=(",", ":")) + "\n"
        with (self.path / "journal.jsonl").open("a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def record_trial(self, record: TrialRecord, objective: ObjectiveSpec) -> None:
        """Journal a finished trial, then refresh its ``trial.json`` and the leaderboard."""
        self.append("trial_finished", trial=record.to_json())
        atomic_write_json(self.trial_dir(record.number) / "trial.json", record.to_json())
        self.write_leaderboard(objective)

    def write_leaderboard(self, objective: ObjectiveSpec) -> None:
        atomic_write_text(self.path / "leaderboard.csv", leaderboard_csv(self.history(), objective))


def leaderboard_rows(history: list[TrialRecord], objective: ObjectiveSpec) -> list[dict[str, Any]]:
    """The leaderboard as rows, best first: rank, trial, state, metrics, seconds, values."""
    rows = []
    for rank, record in enumerate(objective.ranked(history), start=1):
        scored = objective.score(record) is not None
        rows.append(
            {
                "rank": rank if scored else "",
                "trial": record.number,
                "state": record.state.value,
                objective.metric: record.metrics.get(objective.metric, ""),
                "val_accuracy": record.metrics.get("val_accuracy", ""),
                "val_f1": record.metrics.get("val_f1", ""),
                "params": record.metrics.get("params", ""),
                "seconds": round(record.seconds, 2),
                "key": record.key,
                "values": json.dumps(record.values, sort_keys=True),
                "error": record.error or "",
            }
        )
    return rows


def leaderboard_csv(history: list[TrialRecord], objective: ObjectiveSpec) -> str:
    rows = leaderboard_rows(history, objective)
    buffer = io.StringIO()
    fields = list(dict.fromkeys(k for row in rows for k in row)) or ["rank", "trial", "state"]
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


# --------------------------------------------------------------------------- run ids


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
