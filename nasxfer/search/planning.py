"""What a search runs next: a scheduler's promotion, a warm-start candidate, or the
strategy's new candidate. The runner's loop asks, runs what it is told, and records it.

Every answer is a function of the journal: the trial an earlier session left unfinished
comes first; then the scheduler decides from the history whether to promote a paused trial
or start a new candidate, and a new candidate is the next warm-start one not yet tried, or
else the strategy's proposal. Starts and promotions are journalled before training, so a
run killed at any point continues with the same trial.

Budget: ``search.budget.trials`` counts candidates, less ``search.recheck``'s re-runs of the
leaders (``nasxfer.search.recheck``, after the planner). A promoted trial keeps its number and
does not count again; once the budget is spent no candidate starts, but the scheduler may
still promote paused trials to finish its brackets.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, Sequence

from nasxfer.config import Config
from nasxfer.schedulers import create_scheduler
from nasxfer.schedulers.base import Promotion
from nasxfer.search.objectives import objective_of, objectives_of
from nasxfer.search.space import Candidate, SearchSpace, seen_keys
from nasxfer.search.trial import TrialRecord, TrialState
from nasxfer.search.screened import journalled_screen
from nasxfer.search.warm_start import journalled_warm_start
from nasxfer.storage.store import RunStore
from nasxfer.strategies import create_strategy


@dataclass(frozen=True)
class PlannedTrial:
    number: int
    candidate: Candidate
    seed: int
    resumed: bool = False  # an unfinished trial of an earlier session
    epochs: int | None = None  # train up to this epoch (a scheduler's rung); None: all of train.epochs
    bracket: int | None = None  # the scheduler's bracket, carried into the record
    previous: TrialRecord | None = None  # a promoted trial's record before this stretch
    # Config settings applied after the candidate's values (``TrialRecord.overrides``): a
    # resumed or promoted trial continues with the batch size an out-of-memory retry chose.
    overrides: dict = dataclasses.field(default_factory=dict)


class Planner:
    """Decides the next trial of one run; ``stop_reason`` says why there is none."""

    def __init__(self, config, store, strategy, scheduler, warm_start: Sequence[Candidate], seed_of: Callable[[int], int]):
        self.config = config
        self.store = store
        self.strategy = strategy
        self.scheduler = scheduler
        self.warm_start = list(warm_start)
        self.seed_of = seed_of
        self.next_number = 1 + max((e["number"] for e in store.events() if e.get("event") == "trial_started"), default=0)
        self.exhausted = False
        self.stop_reason = ""

    def unfinished(self, history: Sequence[TrialRecord]) -> PlannedTrial | None:
        """The trial (or promotion) an earlier session started and did not finish, if any."""
        plans = self.all_unfinished(history)
        return plans[-1] if plans else None

    def all_unfinished(self, history: Sequence[TrialRecord]) -> list[PlannedTrial]:
        """Every trial or promotion earlier sessions started and did not finish (a parallel
        search leaves one per trial that was running), by number."""
        plans = []
        for event in self.store.unfinished_trials():
            previous = next((r for r in history if r.number == event["number"]), None)
            plans.append(
                PlannedTrial(
                    event["number"], Candidate(event["values"]), event["seed"], resumed=True,
                    epochs=event.get("epochs"), bracket=event.get("bracket"), previous=previous,
                    overrides=self.store.trial_overrides(event["number"]),
                )
            )
        return plans

    def next(self, history: list[TrialRecord], record: Callable[[TrialRecord], None], elapsed: float) -> PlannedTrial | None:
        """The next trial to run, journalled as started (or promoted); None when the search is over.

        Trials the scheduler retires are handed to ``record`` as pruned, their checkpoints freed.
        """
        while True:
            decision = self.scheduler.decide(history, can_start_new=self._can_start_new(history))
            for retirement in decision.retire:
                earlier = next(r for r in history if r.number == retirement.number)
                record(dataclasses.replace(earlier, state=TrialState.PRUNED, reason=retirement.reason))
                self.store.checkpoints(retirement.number).clear()
            step = decision.next
            if step is None:
                budget, recheck = self.config.search.searched_trials, self.config.search.recheck
                spent = f"{budget} trial{'s' if budget != 1 else ''}"
                if recheck is not None:
                    spent += f" searched, {recheck.trainings} for re-checking the leaders"
                self.stop_reason = "search space exhausted" if self.exhausted else f"trial budget reached ({spent})"
                return None
            if isinstance(step, Promotion):
                return self._promote(history, step, elapsed)
            candidate = self._propose(history)
            if candidate is None:
                self.exhausted = True  # ask again: the scheduler may still have promotions to make
                continue
            return self.start(candidate, elapsed, epochs=step.epochs, bracket=step.bracket)

    def start(self, candidate: Candidate, elapsed: float, epochs: int | None = None, bracket: int | None = None) -> PlannedTrial:
        """``candidate`` as the run's next trial, journalled as started (its number and seed the run's next)."""
        plan = PlannedTrial(self.next_number, candidate, self.seed_of(self.next_number), epochs=epochs, bracket=bracket)
        self.next_number += 1
        self.store.append(
            "trial_started", number=plan.number, key=candidate.key, values=candidate.as_dict(), seed=plan.seed,
            elapsed=elapsed, **_schedule_fields(plan),
        )
        return plan

    def _can_start_new(self, history: Sequence[TrialRecord]) -> bool:
        budget = self.config.search.searched_trials
        counted = sum(r.state is not TrialState.REJECTED for r in history)  # rejects cost no training
        return not self.exhausted and (budget is None or counted < budget)

    def _propose(self, history: Sequence[TrialRecord]) -> Candidate | None:
        """The first untried warm-start candidate, else the strategy's proposal."""
        seen = seen_keys(history)
        for candidate in self.warm_start:
            if candidate.key not in seen:
                return candidate
        return self.strategy.propose(history)

    def _promote(self, history: Sequence[TrialRecord], step: Promotion, elapsed: float) -> PlannedTrial:
        earlier = next(r for r in history if r.number == step.number)
        plan = PlannedTrial(
            earlier.number, Candidate(earlier.values), earlier.seed, epochs=step.epochs, bracket=earlier.bracket,
            previous=earlier, overrides=dict(earlier.overrides),
        )
        self.store.append(
            "trial_promoted", number=plan.number, key=earlier.key, values=earlier.values, seed=plan.seed,
            reached=earlier.epochs_reached, elapsed=elapsed, **_schedule_fields(plan),
        )
        return plan


def _schedule_fields(plan: PlannedTrial) -> dict:
    """The journal fields of a scheduled start; none without a scheduler (journals stay as they were)."""
    fields = {}
    if plan.epochs is not None:
        fields["epochs"] = plan.epochs
    if plan.bracket is not None:
        fields["bracket"] = plan.bracket
    return fields


def create_planner(config: Config, store: RunStore, space: SearchSpace) -> Planner:
    """The run's planner: the config's strategy and scheduler, and its warm-start candidates
    (journalled on the run's first start), then the candidates ``search.screen`` keeps.
    Call with the run's lock held."""
    objective = objective_of(config)
    first = journalled_warm_start(config, store, space, objective) + journalled_screen(config, store, space)
    return Planner(
        config, store, strategy_for(config, space), create_scheduler(config, objective),
        first, seed_of=lambda number: trial_seed(config, number),
    )


def strategy_for(config: Config, space: SearchSpace):
    """The config's strategy over ``space``."""
    settings = config.search.strategy
    return create_strategy(settings.name, space, config.seed, objective_of(config), settings.options, objectives_of(config))


def trial_seed(config: Config, number: int) -> int:
    """Each trial gets its own seed, derived from the run's, so trials are reproducible alone."""
    return (config.seed * 100_003 + number) % 2**31
