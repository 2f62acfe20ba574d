"""Conformance tests every strategy's test class inherits.

A subclass sets ``strategy_name`` (and ``options`` if needed); the tests then check the
contract of ``nasxfer.strategies.base``: proposals lie in the space, are never repeated
(not even while the earlier trial is still running, as with parallel trials), depend only
on (space, seed, history), end with ``None`` on an exhausted finite space, and replaying a
journal after a crash gives the same next proposal.

Strategies that learn from scores also inherit ``LearningConformance``: on a toy space
where one op is clearly best, their pick after a few trials beats random search's.
"""

from __future__ import annotations

import random

from nasxfer.search.space import Candidate, Choice, Dimension, FloatRange, IntRange, SearchSpace
from nasxfer.strategies import create_strategy
from nasxfer.search.trial import ObjectiveSpec, TrialRecord, TrialState

FINITE = SearchSpace(
    (
        Dimension("model.scratch.ops", Choice(("identity", "conv3x3", "mbconv_k3_e3")), repeat=2),
        Dimension("train.epochs", IntRange(1, 2)),
    )
)  # 18 candidates

LEARN = SearchSpace(
    (Dimension("model.scratch.ops", Choice(("identity", "conv3x3", "mbconv_k3_e3")), repeat=6),)
)  # 729 candidates; all mbconv_k3_e3 is best under fake_score

MIXED = SearchSpace(
    (
        Dimension("model.scratch.ops", Choice(("identity", "conv3x3", "mbconv_k3_e3")), repeat=4),
        Dimension("train.lr", FloatRange(0.001, 0.1, log=True)),
    )
)


def fake_score(values: dict) -> float:
    """A deterministic pseudo-accuracy so strategies that learn from results have something."""
    ops = values.get("model.scratch.ops", [])
    score = sum({"identity": 0.0, "conv3x3": 0.05, "mbconv_k3_e3": 0.1}[op] for op in ops)
    score += random.Random(str(sorted(values.items()))).random() * 0.05
    return score


def record(number: int, candidate, failed: bool = False, objective: ObjectiveSpec = ObjectiveSpec()) -> TrialRecord:
    """A journal row for ``candidate``; with a ``min`` objective its metric is minus the score."""
    values = candidate.as_dict()
    score = fake_score(values)
    return TrialRecord(
        number=number,
        key=candidate.key,
        values=values,
        state=TrialState.FAILED if failed else TrialState.COMPLETE,
        metrics={} if failed else {objective.metric: score if objective.mode == "max" else -score},
    )


class StrategyConformance:
    strategy_name: str = ""
    options: dict = {}
    #: How many proposals the mixed-space tests run.
    steps: int = 15

    def make(self, space=MIXED, seed=0):
        return create_strategy(self.strategy_name, space, seed, ObjectiveSpec(), dict(self.options))

    def drive(self, strategy, steps, fail_every=0):
        history = []
        for i in range(steps):
            candidate = strategy.propose(history)
            if candidate is None:
                break
            history.append(record(i + 1, candidate, failed=bool(fail_every) and (i + 1) % fail_every == 0))
        return history

    def test_proposals_lie_in_the_space(self):
        for r in self.drive(self.make(), self.steps):
            assert MIXED.contains(Candidate(r.values))

    def test_no_duplicates(self):
        history = self.drive(self.make(FINITE), 18)
        keys = [r.key for r in history]
        assert len(keys) == len(set(keys))

    def test_same_seed_same_history_same_proposals(self):
        a = [r.key for r in self.drive(self.make(seed=3), self.steps)]
        b = [r.key for r in self.drive(self.make(seed=3), self.steps)]
        assert a == b

    def test_finite_space_is_exhausted_cleanly(self):
        strategy = self.make(FINITE)
        history = self.drive(strategy, 100)
        assert len(history) == FINITE.size == 18
        assert strategy.propose(history) is None

    def test_replay_after_crash_gives_the_same_next_proposal(self):
        history = self.drive(self.make(seed=5), 8, fail_every=3)
        expected = self.make(seed=5).propose(history)
        # a fresh process: a new strategy object that has only the journal
        replayed = [TrialRecord.from_json(r.to_json()) for r in history]
        assert self.make(seed=5).propose(replayed) == expected

    def test_pending_trials_are_never_proposed_again(self):
        # Parallel trials: three run at once; each proposal sees the finished trials (in the
        # order they finished) followed by the running ones, as the parallel loop passes them.
        strategy = self.make(FINITE)
        done, running, keys = [], [], []
        number = 0
        while True:
            candidate = strategy.propose(done + running)
            if candidate is None:
                break
            number += 1
            keys.append(candidate.key)
            running.append(TrialRecord.from_json({**record(number, candidate).to_json(), "state": "running", "metrics": {}}))
            if len(running) == 3:  # the middle one finishes first: finish order differs from proposal order
                finishing = running.pop(1)
                done.append(record(finishing.number, Candidate(finishing.values), failed=number % 4 == 0))
        assert len(keys) == len(set(keys)) == FINITE.size
        assert len(running) == 2  # exhausted while two were still running: nothing left to propose

    def test_failed_trials_are_not_proposed_again(self):
        history = self.drive(self.make(FINITE), 18, fail_every=2)
        assert len({r.key for r in history}) == len(history)


class LearningConformance:
    """For strategies that learn: they find better candidates than random search, whichever
    way the objective points. Fully seeded, so the outcome never changes between runs."""

    strategy_name: str = ""
    options: dict = {}
    #: Trials per search and seeds averaged in the comparison.
    learn_steps: int = 25
    learn_seeds: int = 5

    def mean_best(self, name, options, objective) -> float:
        total = 0.0
        for seed in range(self.learn_seeds):
            strategy = create_strategy(name, LEARN, seed, objective, dict(options))
            history = []
            for i in range(self.learn_steps):
                history.append(record(i + 1, strategy.propose(history), objective=objective))
            total += max(fake_score(r.values) for r in history)
        return total / self.learn_seeds

    def test_learns_faster_than_random(self):
        for objective in (ObjectiveSpec("val_accuracy", "max"), ObjectiveSpec("val_loss", "min")):
            learnt = self.mean_best(self.strategy_name, self.options, objective)
            baseline = self.mean_best("random", {}, objective)
            assert learnt > baseline + 0.01, (objective.mode, learnt, baseline)
