"""One trial, start to record: apply the candidate, evaluate it, turn what happened into a
``TrialRecord``. A failure is a result; an out-of-memory failure is retried once at half the
batch size first. Both loops run trials through it: ``runner`` in this process,
``executors.remote`` on a worker (with a sandbox standing in for the run store).
"""

from __future__ import annotations

import time
import traceback

from nasxfer.errors import CandidateRejected, NasxferError, TrainingInterrupted
from nasxfer.search.planning import PlannedTrial
from nasxfer.search.trial import TrialRecord, TrialState
from nasxfer.storage.store import RunStore
from nasxfer.training.failures import free_accelerator_memory, is_out_of_memory


def run_trial(config, store, evaluator, plan: PlannedTrial, reporter, stop, prune=None) -> TrialRecord | None:
    """Evaluate one candidate, up to ``plan.epochs``; a failure is a result. None when a stop
    interrupted it. ``prune(row, epochs)`` gives a reason to stop after an epoch, or None.

    An out-of-memory failure is retried once at half the batch size before it counts.
    """
    values = plan.candidate.as_dict()
    overrides = dict(plan.overrides)  # a resumed or promoted trial keeps the batch its retry chose
    checkpoints = store.checkpoints(plan.number)
    started = time.monotonic()
    retried_oom = False
    try:
        trial_config = config.apply({**values, **overrides})
    except NasxferError as exc:
        return failed_trial(plan, values, exc, started, store)
    pruned: list[str] = []

    def should_prune(row) -> bool:
        reason = prune(row, trial_config.train.epochs)
        if reason:
            pruned.append(reason)
        return reason is not None

    while True:
        full = trial_config.train.epochs
        epochs = min(plan.epochs or full, full)
        reporter.trial_started(plan.number, values, epochs)
        try:
            outcome = evaluator.evaluate(
                trial_config,
                seed=plan.seed,
                trial_dir=store.trial_dir(plan.number),
                values=values,
                on_epoch=lambda row: reporter.epoch_finished(plan.number, row, epochs),
                checkpoints=checkpoints,
                should_stop=lambda: stop.requested,
                stop_at_epoch=epochs if epochs < full else None,
                should_prune=should_prune if prune is not None else None,
            )
        except TrainingInterrupted as exc:
            store.append("trial_interrupted", number=plan.number, epoch=exc.epoch)
            return None
        except CandidateRejected as exc:
            return TrialRecord(
                number=plan.number,
                key=plan.candidate.key,
                values=values,
                state=TrialState.REJECTED,
                metrics=dict(exc.costs),
                error=exc.reason,
                seconds=time.monotonic() - started,
                seed=plan.seed,
            )
        except Exception as exc:  # noqa: BLE001 - any failure of one trial is that trial's result
            batch_size = trial_config.train.batch_size
            if is_out_of_memory(exc) and not retried_oom and batch_size > 1:
                retried_oom = True
                free_accelerator_memory()
                checkpoints.clear()  # a different batch size is a different training run
                overrides["train.batch_size"] = batch_size // 2
                trial_config = trial_config.apply(overrides)
                # Journalled before training again: a resume after a kill continues at this batch.
                store.append("trial_retry", number=plan.number, reason="out of memory", batch_size=batch_size // 2)
                continue
            return failed_trial(plan, values, exc, started, store)
        metrics = dict(outcome.metrics)
        if "train.batch_size" in overrides:
            metrics["batch_size"] = float(trial_config.train.batch_size)
        if pruned:
            state = TrialState.PRUNED
            checkpoints.clear()  # a pruned trial never continues
        else:
            state = TrialState.PAUSED if epochs < full else TrialState.COMPLETE
        return TrialRecord(
            number=plan.number,
            key=plan.candidate.key,
            values=values,
            state=state,
            metrics=metrics,
            curve=outcome.curve,
            seconds=_seconds(plan) + time.monotonic() - started,
            seed=plan.seed,
            checksums=dict(getattr(outcome, "checksums", {}) or {}),
            bracket=plan.bracket,
            reason=pruned[0] if pruned else None,
            overrides=overrides,
        )


def _seconds(plan: PlannedTrial) -> float:
    """Time a promoted trial already spent on earlier rungs: its ``seconds`` add up."""
    return plan.previous.seconds if plan.previous is not None else 0.0


def failed_trial(plan: PlannedTrial, values, exc: BaseException, started: float, store: RunStore) -> TrialRecord:
    """The record of a trial that raised ``exc``; its traceback goes to the journal, its checkpoints away."""
    store.append("trial_error", number=plan.number, traceback=traceback.format_exc(limit=20))
    store.checkpoints(plan.number).clear()
    # A promoted trial that fails keeps the curve of its earlier rungs: its place in them stands.
    previous = plan.previous
    return TrialRecord(
        number=plan.number,
        key=plan.candidate.key,
        values=values,
        state=TrialState.FAILED,
        error=_describe(exc),
        seconds=_seconds(plan) + time.monotonic() - started,
        seed=plan.seed,
        curve=list(previous.curve) if previous is not None else [],
        bracket=plan.bracket,
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, NasxferError):
        return str(exc)
    text = f"{type(exc).__name__}: {exc}".strip()
    return text.splitlines()[0][:500] if text else type(exc).__name__
