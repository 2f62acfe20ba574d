"""The progress interface the library reports through; it never prints itself.

The CLI plugs in a rich live view (``nasxfer.live``), tests plug in a recorder.
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
