"""Scores applied to a config's candidates: build each untrained network (or extract its
frozen backbone's features) and compute the asked-for scores, without training anything.

``Screener`` keeps what every candidate shares (the loaded data, the minibatch, each
backbone's features) between candidates. ``sample_candidates`` draws the N distinct
candidates a screen considers, determined by the seed; ``backbone_candidates`` gives one
candidate per backbone of a ``model.backbone.name`` dimension instead.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Sequence

from nasxfer.config import Config
from nasxfer.errors import ConfigError
from nasxfer.screening import create_score, score_kind
from nasxfer.screening.base import Batch, Features, ScoreValue, compute_score
from nasxfer.search.space import Candidate, SearchSpace

BACKBONE_DIMENSION = "model.backbone.name"
#: Images in the minibatch an architecture score sees, and at most how many training images
#: a backbone score's features come from.
BATCH_SIZE = 64
FEATURE_IMAGES = 2000
#: The input of a table search (NAS-Bench-Macro: CIFAR-10), when no score needs real images.
TABLE_INPUT = (3, 32, 32, 10)


def sample_candidates(space: SearchSpace, n: int, seed: int) -> list[Candidate]:
    """``n`` distinct candidates of ``space`` (fewer if it has fewer), the same for the same seed."""
    from nasxfer.strategies.random_search import sample_untried

    rng = random.Random(f"screen:{seed}")
    chosen: list[Candidate] = []
    seen: set[str] = set()
    while len(chosen) < n:
        candidate = sample_untried(space, seen, rng)
        if candidate is None:
            break
        seen.add(candidate.key)
        chosen.append(candidate)
    return chosen


def backbone_candidates(space: SearchSpace) -> list[Candidate] | None:
    """One candidate per choice of the space's backbone dimension (its other dimensions at
    their first value), or None when the space has no such dimension."""
    dims = {d.path: d for d in space.dimensions}
    if BACKBONE_DIMENSION not in dims or dims[BACKBONE_DIMENSION].repeat is not None:
        return None
    first = {d.path: d.grid()[0] for d in space.dimensions}
    return [Candidate({**first, BACKBONE_DIMENSION: name}) for name in dims[BACKBONE_DIMENSION].grid()]


def check_scores(config: Config, names: Sequence[str], field: str) -> None:
    """Refuse scores the config's candidates cannot have: a backbone score without a backbone,
    a score that needs the source classifier (nasxfer's backbones drop it)."""
    for name in names:
        if score_kind(name) == "backbone":
            if config.model.kind != "transfer":
                raise ConfigError(
                    f"{field}: '{name}' scores a pretrained backbone's features, and this config trains from "
                    "scratch (use an architecture score: naswot, synflow, grad_norm, snip, jacob_cov, params, flops)"
                )
            if create_score(name).needs_source:
                raise ConfigError(
                    f"{field}: '{name}' needs the backbone's source classifier, which nasxfer's backbones drop "
                    "(use logme, hscore, linear_probe or knn)"
                )


@dataclass
class Screener:
    """Scores candidates of ``config`` with ``names``; the minibatch and features are drawn with ``seed``."""

    config: Config
    names: Sequence[str]
    seed: int = 0
    device: str | None = None
    _data: object = field(default=None, repr=False)
    _batch: Batch | None = field(default=None, repr=False)
    _features: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.scores = [create_score(name) for name in self.names]

    def needs_data(self) -> bool:
        return self.config.search.evaluator.table is None or any(
            getattr(s, "needs_data", True) for s in self.scores
        )

    def score(self, candidate: Candidate) -> dict[str, ScoreValue]:
        """Every score of one candidate, each with its own time."""
        import torch

        config = self.config.apply(candidate.as_dict())
        device = torch.device(self.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        results: dict[str, ScoreValue] = {}
        architecture = [s for s in self.scores if s.kind == "architecture"]
        if architecture:
            model, batch = self._model_and_batch(config, device)
            for score in architecture:
                results[score.name] = compute_score(score, model, batch, seed=self.seed)
        for score in (s for s in self.scores if s.kind == "backbone"):
            results[score.name] = compute_score(score, None, self._backbone_features(config, device), seed=self.seed)
        return results

    def _loaded(self, device):
        if self._data is None:
            from nasxfer.data import load_dataset

            self._data = load_dataset(self.config.data, seed=self.config.seed, device=device)
        return self._data

    def _model_and_batch(self, config: Config, device):
        import torch

        from nasxfer.models.build import build_model, preprocess_for
        from nasxfer.training.compute import seed_everything

        if not self.needs_data():  # a table search scored by data-free scores: the table's input
            channels, height, width, classes = TABLE_INPUT
            seed_everything(self.seed)
            model = build_model(config.model, channels, classes).to(device)
            if self._batch is None:
                self._batch = Batch(torch.zeros(1, channels, height, width, device=device), torch.zeros(1, dtype=torch.long, device=device), classes)
            return model, self._batch
        data = self._loaded(device)
        seed_everything(self.seed)  # every candidate starts from the same seed, as a trial would
        model = build_model(config.model, data.channels, len(data.class_names)).to(device)
        preprocess = preprocess_for(config.model, data, model)
        # One batch per preprocessing (a transfer backbone may resize): the same images for every candidate.
        key = repr(preprocess)
        if self._batch is None or getattr(self, "_batch_key", None) != key:
            from nasxfer.data.loader import BatchLoader

            loader = BatchLoader(
                data.train, batch_size=BATCH_SIZE, device=device, preprocess=preprocess, shuffle=True,
                seed=self.seed, drop_last=False, num_workers=0,
            )
            x, y = next(iter(loader))
            self._batch, self._batch_key = Batch(x, y, len(data.class_names)), key
        return model, self._batch

    def _backbone_features(self, config: Config, device) -> Features:
        import torch

        from nasxfer.models.build import build_model, preprocess_for
        from nasxfer.training.compute import seed_everything

        key = config.model.backbone.model_dump_json()
        if key not in self._features:
            from nasxfer.features.cache import FeatureCache
            from nasxfer.models.weights import weights_digest
            from nasxfer.features.head_training import split_features

            data = self._loaded(device)
            seed_everything(self.seed)
            network = build_model(config.model, data.channels, len(data.class_names)).to(device)
            preprocess = preprocess_for(config.model, data, network)
            features, _, _ = split_features(
                network, data, "train", preprocess, config, device, FeatureCache(), weights_digest(network.backbone)
            )
            vectors, labels = features.avg.float(), features.labels
            if len(labels) > FEATURE_IMAGES:
                keep = torch.randperm(len(labels), generator=torch.Generator().manual_seed(self.seed))[:FEATURE_IMAGES]
                vectors, labels = vectors[keep], labels[keep]
            self._features[key] = Features(vectors, labels, len(data.class_names))
        return self._features[key]
