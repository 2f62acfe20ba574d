"""The one exception type the CLI turns into "one line, exit code 2"."""


class NasxferError(Exception):
    """A problem the user can fix: bad config, unknown run, missing file.

    The message is a single line that names what is wrong and how to fix it; the CLI
    prints it without a traceback and exits with code 2.
    """


class ConfigError(NasxferError):
    """A config file, a ``--set`` override or a search space that does not validate."""


class RunNotFoundError(NasxferError):
    """A run id that names no run folder (or reaches outside the runs folder)."""


class TrainingInterrupted(Exception):
    """A stop was asked for (Ctrl-C); training stopped after ``epoch`` with its state
    checkpointed, so a resumed search continues the trial from there."""

    def __init__(self, epoch: int):
        super().__init__(f"stopped after epoch {epoch}")
        self.epoch = epoch


class CandidateRejected(Exception):
    """A candidate breaks a ``search.constraints`` limit: it is journalled as rejected,
    with the costs that were measured, and never trained."""

    def __init__(self, reason: str, costs: dict[str, float]):
        super().__init__(reason)
        self.reason = reason
        self.costs = costs
