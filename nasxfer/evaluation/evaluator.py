"""Evaluators turn one candidate's resolved config into metrics.

``TrainingEvaluator`` builds the network and trains it; it keeps loaded datasets between
trials, since most searches vary the model and not the data. ``TableEvaluator``
(``nasxfer.evaluation.table``) looks results up in a benchmark table instead.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from nasxfer.config import Config
from nasxfer.evaluation.outcome import TrialOutcome


def make_evaluator(config: Config):
    """The evaluator a config asks for: training, unless the search names a results table."""
    if config.search.evaluator.table is not None:
        from nasxfer.evaluation.table import TableEvaluator

        return TableEvaluator()
    return TrainingEvaluator()


class TrainingEvaluator:
    """Trains each candidate for real on the config's data.

    What does not change between trials is paid for once per run (once per evaluator): the
    datasets; each pretrained backbone, built (weights read, checked) by ``prepare`` or the
    first trial that needs it; a frozen backbone's weights digest and costs (the costs also
    across runs, ``costs.BackboneCostCache``); and cached features, kept on the device once
    read (``FeatureCache(keep=True)``).
    """

    def __init__(self) -> None:
        self._datasets: dict[tuple[str, int, str], Any] = {}
        self._summary = None
        self._folds: dict[tuple[str, int, str, str], list] = {}
        self._backbones: dict[str, Any] = {}  # model.backbone JSON -> the backbone as built (CPU)
        self._placed: dict[tuple[str, str, bool], Any] = {}  # ... -> on a device, in a memory layout
        self._digests: dict[tuple[str, str, bool], str] = {}
        self._feature_cache = None
        self._cost_cache = None
        self._deployed = None
        self._teacher = None  # search.distill: (Classifier, settings, description, sha256, path)
        self._teacher_logits: dict[str, Any] = {}  # device -> training.distill.TeacherLogits

    def use_journal(self, store) -> None:
        """Journal deployed timings into ``store`` (the run, its lock held) and reuse those
        it already holds (``evaluation.deployed``): a resumed search re-times nothing.
        With a teacher (``search.distill``) the journal names it once."""
        self.deployed.use_journal(store.events(), store.append)
        if self._teacher is not None:
            from nasxfer.search.teacher import journal_teacher

            _, settings, description, sha256, path = self._teacher
            journal_teacher(store.events(), store.append, description, sha256, path, settings)

    def distill_from(self, teacher, settings, description: str, sha256: str, path) -> None:
        """Distil every trial from ``teacher`` (a ``Classifier``, loaded once per run from the
        model file ``path`` by ``search.teacher.attach_teacher``) with ``settings``'
        temperature and alpha."""
        self._teacher = (teacher.eval(), settings, description, sha256, path)
        self._teacher_logits.clear()

    @property
    def teacher_images_computed(self) -> int:
        """Training images the teacher has run on so far (its logits are reused after)."""
        return sum(cache.computed for cache in self._teacher_logits.values())

    def distillation(self, config: Config, train_split, augment, preprocess, device):
        """``(loss_fn, split for the training loader)``: without a teacher the labels'
        cross-entropy and the split itself; with one ``training.distill.distillation_for``,
        the teacher's logits on each training image computed once per run and device
        (no augmentation) or on each augmented batch."""
        if self._teacher is None:
            return None, train_split
        if config.model.kind == "transfer":  # search.teacher refuses these before the run
            from nasxfer.errors import NasxferError

            raise NasxferError("search.distill: a transfer network cannot be the student (model.kind: scratch)")
        from nasxfer.training.distill import TeacherLogits, distillation_for

        teacher, settings = self._teacher[0], self._teacher[1]
        if str(device) not in self._teacher_logits:
            self._teacher_logits[str(device)] = TeacherLogits(teacher, device)
        cache = self._teacher_logits[str(device)]
        loss_fn, split, _how = distillation_for(cache.teacher, settings, train_split, augment, preprocess, device, cache=cache)
        return loss_fn, split

    @property
    def deployed(self):
        """Deployed timings by architecture key (``evaluation.deployed.DeployedTimings``)."""
        if self._deployed is None:
            from nasxfer.evaluation.deployed import DeployedTimings

            self._deployed = DeployedTimings()
        return self._deployed

    def prepare(self, config: Config) -> None:
        """Load the data before the run starts: a bad path fails before a run folder exists."""
        from nasxfer.data.summary import from_loaded
        from nasxfer.models.backbones.preflight import check_backbones
        from nasxfer.training.compute import resolve_device

        data = self.data_for(config, resolve_device(config.train.device))
        self._summary = from_loaded(data, config.data.resize)
        # A bad backbone, weights file or run id fails here too; the trials reuse what it built.
        check_backbones(config, keep=self._backbones)

    def backbone_for(self, config: Config, device, channels_last: bool, *, shared: bool):
        """The run's backbone for ``config.model.backbone`` on ``device``, built once.

        ``shared=True`` hands out the run's own copy: only for a trial that never changes
        it (fully frozen, trained on cached features). Any other trial gets a copy of its
        own (a deep copy costs far less than reading the weights again). Either way its
        weights are the pretrained ones, as a fresh build would give.
        """
        import copy

        import torch

        from nasxfer.models.backbones import build_backbone

        settings = config.model.backbone.model_dump_json()
        if settings not in self._backbones:
            with torch.random.fork_rng(devices=[]):  # as build_model: no trial randomness is drawn
                self._backbones[settings] = build_backbone(config.model.backbone)
        place = (settings, str(device), channels_last)
        if place not in self._placed:
            built = self._backbones[settings]
            placed = built if device.type == "cpu" and not channels_last else copy.deepcopy(built).to(device)
            if channels_last:
                placed = placed.to(memory_format=torch.channels_last)
            self._placed[place] = placed.eval()  # frozen parts stay in eval mode; a copy's network sets its own
        placed = self._placed[place]
        return placed if shared else copy.deepcopy(placed)

    def weights_of(self, config: Config, device, channels_last: bool) -> str:
        """The weights digest of the run's (unchanged) backbone for ``config``, computed once."""
        from nasxfer.models.weights import weights_digest

        place = (config.model.backbone.model_dump_json(), str(device), channels_last)
        if place not in self._digests:
            self._digests[place] = weights_digest(self.backbone_for(config, device, channels_last, shared=True))
        return self._digests[place]

    @property
    def feature_cache(self):
        """The run's feature cache: the files, and what this run has read kept in memory."""
        if self._feature_cache is None:
            from nasxfer.features.cache import FeatureCache

            self._feature_cache = FeatureCache(keep=True)
        return self._feature_cache

    @property
    def cost_cache(self):
        """Frozen backbones' costs, measured once (``costs.BackboneCostCache``)."""
        if self._cost_cache is None:
            from nasxfer.evaluation.costs import BackboneCostCache

            self._cost_cache = BackboneCostCache()
        return self._cost_cache

    def model_for(self, config: Config, data, device, seed: int):
        """``models.build.model_for_training`` for one trial, on the run's backbone (see
        ``backbone_for``); the network is the same as a fresh build gives."""
        from nasxfer.models.build import model_for_training
        from nasxfer.models.freezing import trainable_stages
        from nasxfer.training.compute import use_channels_last

        if config.model.kind != "transfer":
            return model_for_training(config, data, device, seed)
        channels_last = use_channels_last(config.train.channels_last, device)
        run_backbone = self.backbone_for(config, device, channels_last, shared=True)
        frozen = trainable_stages(config.model.finetune.unfreeze, len(run_backbone.stages)) == 0
        shared = frozen and config.model.finetune.feature_cache == "auto"
        backbone = run_backbone if shared else self.backbone_for(config, device, channels_last, shared=False)
        return model_for_training(config, data, device, seed, backbone=backbone)

    def data_summary(self):
        """The ``DataSummary`` of the config's data as ``prepare`` loaded it (None before)."""
        return self._summary

    def skipped_files(self) -> list[tuple[str, str]]:
        """``(path, reason)`` of each image file the loaded datasets left out (each once, in order)."""
        reasons = {path: why for data in self._datasets.values() for path, why in data.skipped_files}
        return list(reasons.items())

    def data_for(self, config: Config, device):
        """The config's dataset, loaded once per (data settings, seed, device)."""
        from nasxfer.data import load_dataset

        key = (config.data.model_dump_json(), config.seed, str(device))
        if key not in self._datasets:
            self._datasets[key] = load_dataset(config.data, seed=config.seed, device=device)
        return self._datasets[key]

    def folds_for(self, config: Config, device) -> list:
        """The run's ``search.cv`` folds of train+val (``data.folds.cv_folds``), made once per
        (data settings, seed, device, cv): every trial of the run sees the same folds."""
        from nasxfer.data.folds import cv_folds

        cv = config.search.cv
        key = (config.data.model_dump_json(), config.seed, str(device), cv.model_dump_json())
        if key not in self._folds:
            self._folds[key] = cv_folds(self.data_for(config, device), cv.folds, cv.repeats, config.seed)
        return self._folds[key]

    def evaluate(
        self,
        config: Config,
        *,
        seed: int,
        trial_dir: Path,
        values: dict[str, Any],
        on_epoch: Callable[[dict[str, float]], None] | None = None,
        checkpoints=None,
        should_stop: Callable[[], bool] | None = None,
        stop_at_epoch: int | None = None,
        should_prune: Callable[[dict[str, float]], bool] | None = None,
    ) -> TrialOutcome:
        """Train one candidate. With ``checkpoints`` (``store.TrialCheckpoints``) the training
        state is saved after every epoch and an earlier one is continued from; with
        ``should_stop`` training can end early with ``TrainingInterrupted``.

        ``stop_at_epoch`` (a scheduler's rung) and ``should_prune`` (a pruner) end training
        early and normally, as ``fit`` describes; the outcome is then the trial's at the epoch
        reached, and its last checkpoint stays, for a promotion to continue from. Checkpoints
        are cleared once the trial has trained all of ``train.epochs``.

        With ``search.cv`` every fold trains (``evaluation.cross_validation``): the same
        arguments, the fold means as the outcome."""
        if config.search.cv is not None:
            from nasxfer.evaluation.cross_validation import evaluate_folds

            return evaluate_folds(
                self, config, seed=seed, trial_dir=trial_dir, values=values, on_epoch=on_epoch, checkpoints=checkpoints,
                should_stop=should_stop, stop_at_epoch=stop_at_epoch, should_prune=should_prune,
            )  # fmt: skip
        from nasxfer.storage.model_files import model_payload, save_model
        from nasxfer.evaluation.costs import peak_memory_mb, reset_peak_memory
        from nasxfer.data.loader import BatchLoader, augment_for
        from nasxfer.storage.atomic import atomic_write_json
        from nasxfer.training.compute import configure_backend, resolve_device
        from nasxfer.training.fit import count_parameters, fit
        from nasxfer.training.threads import threads_for_trial

        started = time.perf_counter()
        device = resolve_device(config.train.device)
        configure_backend(config.train, device)
        threads = threads_for_trial(config.train.threads, config.data.num_workers)
        peak_is_this_trials = reset_peak_memory(device)
        data = self.data_for(config, device)
        built = self.model_for(config, data, device, seed)
        model, preprocess, channels_last = built.model, built.preprocess, built.channels_last
        frozen = getattr(model, "backbone_frozen", False)
        # A frozen backbone's weights are the run's, unchanged: their digest is computed once.
        weights = self.weights_of(config, device, channels_last) if frozen else None
        costs = self.costs(model, config, data, preprocess, device, weights, channels_last)  # may reject before training
        augment = augment_for(config.data, data)
        loss_fn, train_split = self.distillation(config, data.train, augment, preprocess, device)
        train_batches = BatchLoader(
            train_split,
            batch_size=config.train.batch_size,
            device=device,
            preprocess=preprocess,
            augment=augment,
            shuffle=True,
            seed=seed,
            channels_last=channels_last,
            num_workers=threads.loader_workers,
        )
        val_batches = BatchLoader(
            data.val,
            batch_size=max(256, config.train.batch_size),
            device=device,
            preprocess=preprocess,
            channels_last=channels_last,
            num_workers=threads.loader_workers,
        )
        # Both kinds of trial resume from epoch checkpoints, stop at a scheduler's rung and
        # can be pruned; a transfer trial on cached features checkpoints its head alone.
        control = dict(
            resume=checkpoints.latest() if checkpoints is not None else None,
            on_checkpoint=checkpoints.save if checkpoints is not None else None,
            should_stop=should_stop,
            stop_at_epoch=stop_at_epoch,
            should_prune=should_prune,
        )
        transfer = None
        if config.model.kind == "transfer":
            from nasxfer.features.head_training import FeatureSource
            from nasxfer.training.transfer import fit_transfer, search_phases

            result, transfer = fit_transfer(
                model, config, data, preprocess, device, phases=search_phases(config),
                train_batches=train_batches, val_batches=val_batches, seed=seed,
                channels_last=channels_last, on_epoch=on_epoch,
                features=FeatureSource(self.feature_cache, weights), **control,
            )  # fmt: skip
        else:
            result = fit(
                model, train_batches, val_batches, config.train, len(data.class_names), on_epoch=on_epoch,
                loss_fn=loss_fn, **control,
            )  # fmt: skip
        # A head trained on cached features is all a trial changed: its model file holds the
        # head, and names the backbone's weights by digest (``model_files.rebuild_model``).
        # Not for an earlier run's model as backbone (that file must rebuild without the run)
        # nor a randomly initialised one (``weights: none``: no rebuild draws it again).
        from nasxfer.models.backbone_names import weights_kind

        cached = transfer is not None and transfer.used_cache
        rebuildable = cached and getattr(model, "backbone_source", None) is None
        head_only = weights if rebuildable and weights_kind(config.model.backbone.weights) != "none" else None
        payload = model_payload(model, config, values, data, preprocess, backbone_weights=head_only)
        model_sha256 = save_model(trial_dir / "model.pt", payload)
        if checkpoints is not None and len(result.curve) >= config.train.epochs:
            checkpoints.clear()  # the finished model supersedes the training state

        final = result.final
        train_seconds = sum(row["train_seconds"] for row in result.curve)
        images = sum(row["images_per_second"] * row["train_seconds"] for row in result.curve)
        metrics = {
            "val_accuracy": final["val_accuracy"],
            "val_f1": final["val_f1"],
            "val_loss": final["val_loss"],
            "train_loss": final["train_loss"],
            "best_val_accuracy": max(row["val_accuracy"] for row in result.curve),
            "params": float(count_parameters(model)),
            "epochs": float(len(result.curve)),
            "images_per_second": images / max(train_seconds, 1e-9),
            "seconds_per_epoch": train_seconds / max(len(result.curve), 1),
            "seconds": time.perf_counter() - started,
            "train_threads": float(threads.threads),
            **({"distilled": 1.0} if loss_fn is not None else {}),  # search.distill: trained against the teacher
            **costs,
            # Named for what it is: where the peak cannot be reset it is the whole process's.
            ("peak_memory_mb" if peak_is_this_trials else "process_peak_memory_mb"): peak_memory_mb(device),
        }
        if transfer is not None:
            metrics.update(transfer.metrics(model))
            if transfer.used_cache:  # no image augmentation in this trial: say so beside its results
                atomic_write_json(trial_dir / "feature_cache.json", transfer.describe())
        return TrialOutcome(metrics, result.curve, {"model.pt": model_sha256})

    def costs(
        self, model, config: Config, data, preprocess, device, weights: str | None = None, channels_last: bool = False
    ) -> dict[str, float]:
        """Params, FLOPs, latency and step memory of the untrained network; raises
        ``CandidateRejected`` when they break ``search.constraints``. With
        ``search.latency.runtime: onnxruntime`` the latency is the deployed one
        (``evaluation.deployed``), timed once per architecture.

        With ``weights`` (the digest of a fully frozen backbone) the backbone's part is
        measured once per run and machine and only the head's per trial
        (``costs.frozen_backbone_costs``): the same figures, within timing noise."""
        import torch

        from nasxfer.search.constraints import broken_constraint
        from nasxfer.evaluation.costs import candidate_costs, frozen_backbone_costs
        from nasxfer.errors import CandidateRejected

        shape = (preprocess.channels or data.channels, *(preprocess.image_size or data.image_size))
        search, batch = config.search, config.train.batch_size
        # Measuring draws random inputs; forking keeps the trial's own random stream untouched.
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            if weights is not None:
                costs = frozen_backbone_costs(model, shape, device, search, batch, self.cost_cache, weights, channels_last)
            else:
                costs = candidate_costs(model, shape, device, search, batch)
        if search.latency.runtime == "onnxruntime":  # latency as deployed: exported, in ONNX Runtime on the CPU
            from nasxfer.evaluation.deployed import architecture_key

            key = architecture_key(config.model.model_dump(mode="json"), shape, len(data.class_names), search.latency)
            costs.update(self.deployed.latency(model, key, shape, search.latency))
        reason = broken_constraint(costs, config.search.constraints)
        if reason:
            raise CandidateRejected(reason, costs)
        return costs
