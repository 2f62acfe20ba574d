"""A policy-gradient controller: REINFORCE (Williams 1992), as in Zoph & Le's NAS (2017).

The policy is one softmax per categorical coordinate (a choice, or one item of a repeated
choice), sampled independently; int and float coordinates are drawn uniformly. After each
complete trial the logits take one step along ``advantage * grad log p(candidate)``, where
the advantage is the score minus a moving-average baseline, divided by the spread of the
scores seen so far. That division makes ``learning_rate`` independent of the metric's
scale: accuracies that differ in the third digit teach as fast as losses that differ by 1.

The policy is never stored: each proposal replays the complete trials in order to rebuild
the logits and the baseline, so resume is replay. Failed trials teach nothing, nor do
trials still running in parallel until they finish (they only count as tried). Trials the
policy did not sample itself (random fallbacks, another strategy's history) are learned
from as if it had: the update does not weight them, which only biases it towards them.

A proposal the history already holds is redrawn, up to ``_DRAWS`` times, and then
replaced by a random untried candidate.
"""

from __future__ import annotations

import math
import random
from typing import Any, Sequence

import numpy as np
from pydantic import Field

from nasxfer.search.space import Candidate, Choice, SearchSpace, seen_keys
from nasxfer.strategies.base import NoOptions, Strategy
from nasxfer.strategies.coordinates import fits
from nasxfer.strategies.random_search import sample_untried
from nasxfer.search.trial import TrialRecord

_DRAWS = 100


class ReinforceOptions(NoOptions):
    learning_rate: float = Field(1.0, gt=0, le=100, description="Step of the policy's logits per trial, in units of the normalised advantage.")
    baseline_decay: float = Field(0.9, ge=0, lt=1, description="Weight of the past in the moving-average reward baseline.")
    entropy: float = Field(0.1, ge=0, le=10, description="Entropy bonus that keeps the policy from collapsing early; 0 turns it off.")


class Policy:
    """Logits for each categorical coordinate, and the state of the reward baseline.

    A choice dimension's logits are one row per item (one row when it is not repeated), so
    a repeated choice is learnt in one array operation.
    """

    def __init__(self, space: SearchSpace, options: ReinforceOptions):
        self.space = space
        self.options = options
        self.logits = {
            d.path: np.zeros((d.width, d.domain.size)) for d in space.dimensions if isinstance(d.domain, Choice)
        }
        self.baseline: float | None = None
        # Running mean and sum of squared deviations of every reward (Welford), for the scale.
        self.count, self.mean, self.m2 = 0, 0.0, 0.0

    def probabilities(self, path: str) -> np.ndarray:
        z = self.logits[path] - self.logits[path].max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    def learn(self, values: dict[str, Any], reward: float) -> None:
        """One REINFORCE step towards (or away from) ``values`` after it earned ``reward``."""
        self.count += 1
        delta = reward - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (reward - self.mean)
        if self.baseline is None:  # the first reward only sets the baseline
            self.baseline = reward
            return
        spread = math.sqrt(self.m2 / self.count)
        advantage = (reward - self.baseline) / spread if spread > 0 else 0.0
        decay = self.options.baseline_decay
        self.baseline = decay * self.baseline + (1 - decay) * reward
        for d in self.space.dimensions:
            if d.path not in self.logits:
                continue
            items = values[d.path] if d.repeat else [values[d.path]]
            chosen = [d.domain.choices.index(item) for item in items]
            p = self.probabilities(d.path)
            step = -p * advantage
            step[np.arange(len(chosen)), chosen] += advantage  # advantage * d log p(chosen) / d logits
            if self.options.entropy:
                logp = np.log(p + 1e-12)
                entropy = -(p * logp).sum(axis=1, keepdims=True)
                step += self.options.entropy * -p * (logp + entropy)  # d entropy / d logits
            self.logits[d.path] += self.options.learning_rate * step

    def sample(self, rng: random.Random) -> Candidate:
        values: dict[str, Any] = {}
        for d in self.space.dimensions:
            if d.path in self.logits:
                items = [d.domain.choices[_draw(row, rng)] for row in self.probabilities(d.path)]
                values[d.path] = items if d.repeat else items[0]
            else:
                values[d.path] = d.sample(rng)
        return Candidate(values)


def _draw(p: np.ndarray, rng: random.Random) -> int:
    u, total = rng.random(), 0.0
    for k, pk in enumerate(p):
        total += pk
        if u < total:
            return k
    return len(p) - 1


class Reinforce(Strategy):
    name = "reinforce"
    Options = ReinforceOptions

    def policy(self, history: Sequence[TrialRecord]) -> Policy:
        """The policy after learning from every complete trial of ``history``, in order."""
        policy = Policy(self.space, self.options)
        for record in history:
            reward = self.objective.score(record)
            if reward is not None and fits(self.space, record.values):
                policy.learn(record.values, reward)
        return policy

    def propose(self, history: Sequence[TrialRecord]) -> Candidate | None:
        seen = seen_keys(history)
        rng = self.rng(history)
        policy = self.policy(history)
        for _ in range(_DRAWS):
            candidate = policy.sample(rng)
            if candidate.key not in seen:
                return candidate
        return sample_untried(self.space, seen, rng)
