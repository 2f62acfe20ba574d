"""The progress interface the library reports through; it never prints itself.

The CLI plugs in a rich live view (``nasxfer.progress.live``), tests plug in a recorder.
"""

from __future__ import annotations

from typing import Any


class Reporter:
    """Every hook is optional: the base class ignores them all."""

    def search_started(self, run_id: str, config: Any, space: Any, resumed: int = 0) -> None: ...

    def trial_started(self, number: int, values: dict[str, Any], epochs: int) -> None: ...

    def epoch_finished(self, number: int, row: dict[str, float], epochs: int) -> None: ...

    def trial_finished(self, record: Any, best: Any) -> None: ...

    def search_finished(self, outcome: Any) -> None: ...

    def message(self, text: str) -> None: ...


class RecordingReporter(Reporter):
    """Keeps every call as ``(hook, args)``; for tests and scripts."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattribute__(self, name: str):
        if name in Reporter.__dict__ and not name.startswith("_"):
            calls = object.__getattribute__(self, "calls")
            return lambda *args, **kwargs: calls.append((name, args + tuple(kwargs.values())))
        return object.__getattribute__(self, name)

    def hooks(self, name: str) -> list[tuple[Any, ...]]:
        return [args for hook, args in self.calls if hook == name]


class MultiReporter(Reporter):
    """Passes every hook to each of its reporters in turn: the terminal, ``search.log``, TensorBoard."""

    def __init__(self, reporters: list[Reporter]) -> None:
        self.reporters = list(reporters)

    def search_started(self, run_id, config, space, resumed=0) -> None:
        for reporter in self.reporters:
            reporter.search_started(run_id, config, space, resumed=resumed)

    def trial_started(self, number, values, epochs) -> None:
        for reporter in self.reporters:
            reporter.trial_started(number, values, epochs)

    def epoch_finished(self, number, row, epochs) -> None:
        for reporter in self.reporters:
            reporter.epoch_finished(number, row, epochs)

    def trial_finished(self, record, best) -> None:
        for reporter in self.reporters:
            reporter.trial_finished(record, best)

    def search_finished(self, outcome) -> None:
        for reporter in self.reporters:
            reporter.search_finished(outcome)

    def message(self, text) -> None:
        for reporter in self.reporters:
            reporter.message(text)

    def stop(self) -> None:
        """Stop every reporter that holds something open (a live display, a file), even if one fails."""
        problems = []
        for reporter in self.reporters:
            try:
                getattr(reporter, "stop", lambda: None)()
            except Exception as exc:  # noqa: BLE001 - the others must still close
                problems.append(exc)
        if problems:
            raise problems[0]
