"""Score candidates with a trained supernet's shared weights instead of training them.

The evaluator of a one-shot search (``search.one_shot``, run by ``nasxfer.search.one_shot``):
``train`` trains the supernet (``models.supernet``) once, sampling one path per step,
through ``training.fit.fit`` (so it checkpoints each epoch and resumes exactly like a
trial); ``evaluate`` then scores a candidate in milliseconds, like the table evaluator: its
path's batch-norm statistics are recomputed on ``bn_recalibration_batches`` fixed training
batches (the supernet's running statistics mix every path's), and the path is evaluated on
the validation split. The recalibration batches are the same for every candidate and every
statistic is reset before them, so a candidate's score never depends on which candidates
came before it: a resumed search replays to the same scores.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from nasxfer.config import Config
from nasxfer.errors import CandidateRejected, ConfigError
from nasxfer.evaluation.outcome import TrialOutcome
from nasxfer.search.constraints import broken_constraint

#: A supernet keeps one set of weights per stem width; more than this many is a range, not choices.
MAX_WIDTHS = 8


def supernet_choices(config: Config) -> tuple[list[int], list[list[str]]]:
    """The stem widths and the candidate ops of each layer that ``config``'s space reaches."""
    scratch = config.model.scratch
    space = config.search.space
    layers = sum(scratch.stages)
    ops = space.get("model.scratch.ops")
    if ops is None:
        layer_ops = [[op] for op in scratch.ops]
    elif ops.choices is None:
        raise ConfigError("search.space.model.scratch.ops: give choices (a list of op names, with repeat)")
    elif ops.repeat is not None:
        layer_ops = [list(ops.choices)] * layers
    else:  # each choice is a whole list of ops: a layer's candidates are the ops it takes in any of them
        layer_ops = [list(dict.fromkeys(choice[i] for choice in ops.choices)) for i in range(layers)]
    stem = space.get("model.scratch.stem_channels")
    if stem is None:
        stems = [scratch.stem_channels]
    elif stem.choices is not None:
        stems = [int(s) for s in stem.choices]
    else:
        stems = list(range(int(stem.low), int(stem.high) + 1))
    if len(stems) > MAX_WIDTHS:
        raise ConfigError(
            f"search.space.model.scratch.stem_channels: a supernet keeps one set of weights per stem width; "
            f"give at most {MAX_WIDTHS} choices (it has {len(stems)})"
        )
    return stems, layer_ops


class SupernetEvaluator:
    """Phase 1 (``train``) and phase 2 (``evaluate``) of a one-shot search.

    ``data_source``: an evaluator with ``data_for(config, device)`` (the run's
    ``TrainingEvaluator``), so that the supernet and the retrained candidates share the
    loaded data; without one the data is loaded here.
    """

    def __init__(self, data_source: Any = None) -> None:
        self.data_source = data_source
        self.supernet = None
        self._data = None
        self._device = None
        self._recalibration: list = []
        self._val: list = []

    @property
    def data(self):
        """The data the supernet trained on (None before ``train``)."""
        return self._data

    def prepare(self, config: Config) -> None:
        """Check, before a run exists, that the space has a supernet."""
        supernet_choices(config)

    def _data_for(self, config: Config, device):
        if self.data_source is not None and hasattr(self.data_source, "data_for"):
            return self.data_source.data_for(config, device)
        from nasxfer.data import load_dataset

        return load_dataset(config.data, seed=config.seed, device=device)

    def train(
        self,
        config: Config,
        *,
        checkpoints=None,
        on_epoch: Callable[[dict[str, float]], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ):
        """Train the supernet for ``search.one_shot.epochs`` (or continue from ``checkpoints``,
        a ``TrialCheckpoints``: a trained supernet's last checkpoint trains nothing more);
        returns ``fit``'s result. ``TrainingInterrupted`` when ``should_stop`` says so."""
        from nasxfer.data.loader import BatchLoader, Preprocess, augment_for
        from nasxfer.models.supernet import Supernet
        from nasxfer.training.compute import configure_backend, resolve_device, seed_everything
        from nasxfer.training.fit import fit
        from nasxfer.training.threads import threads_for_trial

        settings = config.search.one_shot
        device = resolve_device(config.train.device)
        configure_backend(config.train, device)
        threads_for_trial(config.train.threads, config.data.num_workers)  # as a trial: train.threads applies
        data = self._data_for(config, device)
        stems, layer_ops = supernet_choices(config)
        seed_everything(config.seed)
        supernet = Supernet(config.model.scratch, stems, layer_ops, data.channels, len(data.class_names)).to(device)
        preprocess = Preprocess.for_data(data)
        train_batches = BatchLoader(
            data.train, batch_size=config.train.batch_size, device=device, preprocess=preprocess,
            augment=augment_for(config.data, data), shuffle=True, seed=config.seed,
        )  # fmt: skip
        # A captured CUDA graph would replay one path for ever: the supernet trains eagerly.
        train = config.train.model_copy(update={"cuda_graphs": "off"})
        result = fit(
            supernet, train_batches, None, train, len(data.class_names), epochs=settings.epochs, on_epoch=on_epoch,
            resume=checkpoints.latest() if checkpoints is not None else None,
            on_checkpoint=checkpoints.save if checkpoints is not None else None, should_stop=should_stop,
        )  # fmt: skip
        self.supernet, self._data, self._device = supernet, data, device
        self._prepare_scoring(config, preprocess)
        return result

    def _prepare_scoring(self, config: Config, preprocess) -> None:
        from nasxfer.data.loader import BatchLoader

        batches = config.search.one_shot.bn_recalibration_batches
        recalibration = BatchLoader(
            self._data.train, batch_size=config.train.batch_size, device=self._device, preprocess=preprocess,
            shuffle=True, seed=config.seed + 1,
        )  # fmt: skip
        self._recalibration = [batch for _, batch in zip(range(batches), recalibration)]
        val = BatchLoader(self._data.val, batch_size=max(256, config.train.batch_size), device=self._device, preprocess=preprocess)
        self._val = list(val)  # read once: every candidate is scored on the same tensors

    def evaluate(
        self,
        config: Config,
        *,
        seed: int,
        trial_dir: Path,
        values: dict[str, Any],
        on_epoch: Callable[[dict[str, float]], None] | None = None,
        **_: Any,  # checkpoints, should_stop: a supernet score has no epochs to save or interrupt
    ) -> TrialOutcome:
        """The candidate's validation metrics on the supernet's weights (after ``train``)."""
        import torch

        from nasxfer.models.supernet import path_of
        from nasxfer.training.compute import choose_precision
        from nasxfer.training.fit import count_parameters, evaluate

        if self.supernet is None:
            raise RuntimeError("SupernetEvaluator.evaluate before train: the supernet has no weights yet")
        started = time.perf_counter()
        network = self.supernet.path_network(path_of(config.model.scratch))
        metrics: dict[str, float] = {"params": float(count_parameters(network))}
        reason = broken_constraint(metrics, config.search.constraints)
        if reason:
            raise CandidateRejected(reason, metrics)
        if self._recalibration:
            recalibrate_batch_norm(network, self._recalibration)
        precision = choose_precision(config.train.amp, self._device)
        with torch.no_grad():
            scores = evaluate(network, self._val, len(self._data.class_names), precision)
        metrics.update(
            val_accuracy=float(scores["accuracy"]), val_f1=float(scores["f1"]), val_loss=float(scores["loss"]),
            epochs=0.0, seconds=time.perf_counter() - started,
        )  # fmt: skip
        return TrialOutcome(metrics, [])


def recalibrate_batch_norm(network, batches) -> None:
    """Recompute every batch-norm layer's running statistics of ``network`` as the plain
    average over ``batches`` (``momentum=None``), from a reset: the statistics a path of a
    supernet needs, since the supernet's own mix the activations of every path."""
    import torch
    from torch import nn

    norms = [m for m in network.modules() if isinstance(m, nn.BatchNorm2d)]
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
    network.train()
    try:
        with torch.no_grad():
            for x, _ in batches:
                network(x)
    finally:
        for norm, momentum in zip(norms, momenta):
            norm.momentum = momentum
        network.eval()
