"""``search.one_shot``: a weight-sharing search in three phases, each resumable from the journal.

1. **Supernet.** The supernet of the space trains for ``one_shot.epochs``, one uniformly
   sampled path per step, checkpointed each epoch (``RunStore.supernet_checkpoints``; the
   training state includes the random generator, so a resumed supernet trains the very
   paths and batches an uninterrupted one would). ``supernet_trained`` journals its cost.
2. **Supernet search.** The run's strategy searches the space with the supernet evaluator
   (``evaluation.supernet``): each candidate is an ordinary trial, scored in milliseconds,
   journalled with ``fidelity: supernet``; ``search.budget`` bounds this phase. Its end
   journals the ``retrain_top`` best candidates (``supernet_search_finished``).
3. **Retrain.** Those candidates train from scratch as ordinary trials (checkpoints,
   resume, model files: as any trial), whatever is left of ``search.budget.minutes``:
   the phase is what the search is for. Their standalone accuracy against their supernet
   score is the report's rank correlation.

What each phase has done is read from the journal, so a run killed in any phase continues
in it; finished trials and epochs are never redone. This module knows nothing of models:
the supernet lives behind ``SupernetEvaluator``, imported when a phase needs it.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from nasxfer.errors import TrainingInterrupted
from nasxfer.search.loop import run_planned_trials
from nasxfer.search.objectives import objective_of
from nasxfer.search.space import Candidate
from nasxfer.search.trial import TrialRecord
from nasxfer.storage.run_status import STOPPED_BY_REQUEST

SUPERNET = "supernet"  # the fidelity of a supernet-scored trial
TRAINED = "supernet_trained"
SEARCHED = "supernet_search_finished"


def supernet_scored(history: list[TrialRecord]) -> list[TrialRecord]:
    """The trials phase 2 scored with the supernet's weights."""
    return [r for r in history if r.fidelity == SUPERNET]


def top_candidates(config, history: list[TrialRecord], k: int) -> list[Candidate]:
    """The ``k`` best supernet-scored candidates, best first, each architecture once."""
    objective = objective_of(config)
    chosen: dict[str, Candidate] = {}
    for record in objective.ranked(supernet_scored(history)):
        if objective.score(record) is None or len(chosen) >= k:
            break
        chosen.setdefault(record.key, Candidate(record.values))
    return list(chosen.values())


class RetrainPlanner:
    """Phase 3's plans: each kept candidate not yet trained, as the run's next trial."""

    def __init__(self, planner, candidates: list[Candidate]):
        self.planner = planner
        self.candidates = candidates
        self.stop_reason = f"retrained the {len(candidates)} best supernet candidate{'s' if len(candidates) != 1 else ''}"

    def next(self, history, record, elapsed):
        trained = {r.key for r in history if r.fidelity is None}
        for candidate in self.candidates:
            if candidate.key not in trained:
                return self.planner.start(candidate, elapsed)
        return None


def run_one_shot(
    config, store, evaluator, planner, history: list[TrialRecord], record: Callable[[TrialRecord], None],
    reporter, stop, elapsed: Callable[[], float], pending=None,
) -> tuple[str, bool]:
    """The three phases, continued from wherever the journal says the run is; ``evaluator``
    (the run's training evaluator) trains phase 3 and lends its data to the supernet.
    ``(stop reason, interrupted)`` as the plain loop returns them. Call with the lock held."""
    from nasxfer.evaluation.supernet import SupernetEvaluator

    settings = config.search.one_shot
    events = [e.get("event") for e in store.events()]
    scorer = SupernetEvaluator(data_source=evaluator)
    if TRAINED not in events:
        reporter.message(f"one-shot: training the supernet for {settings.epochs} epochs, one {settings.sampler} path per step")

    def epoch_done(row):
        reporter.message(
            f"supernet epoch {int(row['epoch'])}/{settings.epochs}: train loss {row['train_loss']:.3f} ({row['train_seconds']:.1f} s)"
        )

    try:
        result = scorer.train(config, checkpoints=store.supernet_checkpoints(), on_epoch=epoch_done, should_stop=lambda: stop.requested)
    except TrainingInterrupted as exc:
        store.append("supernet_interrupted", epoch=exc.epoch)
        return STOPPED_BY_REQUEST, True
    if TRAINED not in events:
        curve = result.curve
        store.append(
            TRAINED, epochs=len(curve), train_seconds=sum(r["train_seconds"] for r in curve),
            images=round(sum(r["images_per_second"] * r["train_seconds"] for r in curve)),
            paths=_paths(scorer.supernet), elapsed=elapsed(),
        )  # fmt: skip
        reporter.message("one-shot: supernet trained; scoring candidates with its weights")

    if SEARCHED not in events:

        def record_scored(trial: TrialRecord) -> None:
            record(dataclasses.replace(trial, fidelity=SUPERNET))

        reason, interrupted = run_planned_trials(
            config, store, scorer, planner, history, record_scored, reporter, stop, elapsed, pending=pending
        )
        pending = None  # phase 2's unfinished trial, if it had one, is done
        if interrupted or "in a row" in reason:  # stopped, or failing: phase 3 would retrain a broken phase's picks
            return reason, interrupted
        kept = top_candidates(config, history, settings.retrain_top)
        store.append(SEARCHED, reason=reason, scored=len(supernet_scored(history)), candidates=[c.as_dict() for c in kept])
        reporter.message(f"one-shot: {reason}; retraining the {len(kept)} best from scratch")
    kept = [Candidate(values) for values in _last(store, SEARCHED)["candidates"]]
    return run_planned_trials(
        config, store, evaluator, RetrainPlanner(planner, kept), history, record, reporter, stop, elapsed,
        pending=pending, time_budget=False,
    )  # fmt: skip


def _paths(supernet) -> int:
    """How many architectures the supernet holds."""
    count = len(supernet.stems)
    for ops in supernet.layer_ops:
        count *= len(ops)
    return count


def _last(store, name: str) -> dict:
    return [e for e in store.events() if e.get("event") == name][-1]
