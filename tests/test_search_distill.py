"""search.distill: every trial of a search distils from a teacher (another run's model),
checked before the run folder exists, loaded once, named once in the journal, resumed
exactly; finetune distils from the same teacher by default."""

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from nasxfer.cli import app
from nasxfer.storage.store import RunStore

cli = CliRunner()


def digits(trials=2, epochs=1, **search):
    """A tiny from-scratch search on the digits (8x8, 10 classes), no augmentation."""
    return {
        "name": "digits",
        "seed": 0,
        "data": {"dataset": "digits", "limit": 300, "augment": "none"},
        "model": {"scratch": {"stem_channels": 4, "stages": [1, 1], "ops": ["conv3x3", "conv3x3"], "head_channels": 16}},
        "search": {
            "strategy": {"name": "random"},
            "space": {"model.scratch.ops": {"choices": ["identity", "conv3x3"], "repeat": 2}},
            "budget": {"trials": trials},
            **search,
        },
        "train": {"epochs": epochs, "batch_size": 64, "lr": 0.05, "device": "cpu"},
        "finetune": {"epochs": 1, "holdout": 0},
    }


def search(tmp_path, runs, name, data, *extra):
    """``(result, the new run's store or None)``: runs started in the same second differ in their ids' suffix only."""
    config = tmp_path / f"{name}.yaml"
    config.write_text(yaml.safe_dump(data))
    before = set(runs.iterdir()) if runs.exists() else set()
    result = cli.invoke(app, ["search", str(config), "-q", "--runs-dir", str(runs), *extra])
    new = [p for p in runs.iterdir() if p.is_dir() and not p.is_symlink() and p not in before] if runs.exists() else []
    return result, (RunStore(new[0]) if len(new) == 1 else None)


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("teacher")
    runs = root / "runs"
    result, store = search(root, runs, "teacher", digits(trials=1, epochs=2))
    assert result.exit_code == 0, result.output
    return runs, store.run_id


def test_every_trial_distils_and_finetune_follows(teacher_run, tmp_path):
    runs, teacher_id = teacher_run
    alone, alone_store = search(tmp_path, runs, "alone", digits())
    assert alone.exit_code == 0, alone.output
    result, store = search(tmp_path, runs, "distilled", digits(distill={"teacher": f"run:{teacher_id}", "temperature": 2}))
    assert result.exit_code == 0, result.output
    assert store.run_id != alone_store.run_id
    plain, taught = alone_store.history(), store.history()
    assert [r.key for r in plain] == [r.key for r in taught]  # same seed: the same candidates
    for a, b in zip(plain, taught):
        assert b.metrics["distilled"] == 1 and "distilled" not in a.metrics
        assert b.metrics["train_loss"] != pytest.approx(a.metrics["train_loss"])  # the distillation loss
        assert 0 <= b.metrics["val_accuracy"] <= 1  # still ranked by the student's own accuracy
    named = [e for e in list(store.events()) if e.get("event") == "distill_teacher"]
    assert len(named) == 1 and named[0]["teacher"].startswith(f"run {teacher_id}") and named[0]["temperature"] == 2
    assert len(named[0]["sha256"]) == 64

    # finetune distils from the search's teacher when finetune.distill is not set
    tuned = cli.invoke(app, ["finetune", store.run_id, "--runs-dir", str(runs)])
    assert tuned.exit_code == 0, tuned.output
    metrics = json.loads((store.path / "final" / "metrics.json").read_text())
    assert metrics["distill"]["teacher"].startswith(f"run {teacher_id}") and metrics["distill"]["temperature"] == 2


def test_a_resumed_search_retrains_nothing_and_names_the_teacher_once(teacher_run, tmp_path):
    runs, teacher_id = teacher_run
    result, store = search(tmp_path, runs, "resumed", digits(distill={"teacher": f"run:{teacher_id}"}))
    assert result.exit_code == 0, result.output
    before = {r.number: r.metrics["train_loss"] for r in store.history()}
    # The teacher run is finetuned meanwhile: run:<id> now names its final model, but the
    # resumed search goes on distilling from the file it started with.
    assert cli.invoke(app, ["finetune", teacher_id, "--runs-dir", str(runs)]).exit_code == 0
    more = cli.invoke(app, ["search", "--resume", store.run_id, "--set", "search.budget.trials=3", "-q", "--runs-dir", str(runs)])
    assert more.exit_code == 0, more.output
    events = list(store.events())
    started = [e["number"] for e in events if e.get("event") == "trial_started"] or None
    history = store.history()
    assert [r.number for r in history] == [1, 2, 3]
    assert {r.number: r.metrics["train_loss"] for r in history if r.number in before} == before
    if started is not None:
        assert started.count(1) == 1 and started.count(2) == 1  # finished trials were not trained again
    named = [e for e in events if e.get("event") == "distill_teacher"]
    assert len(named) == 1 and named[0]["path"].endswith("model.pt") and "final" not in Path(named[0]["path"]).parts


def test_stopped_mid_trial_a_distilled_search_resumes_to_the_same_numbers(teacher_run, tmp_path):
    from nasxfer.config import validate_config
    from nasxfer.evaluation.evaluator import TrainingEvaluator
    from nasxfer.search.outcome import StopRequest
    from nasxfer.search.runner import run_search
    from nasxfer.search.teacher import attach_teacher

    from test_resume import StopAfter

    runs, teacher_id = teacher_run
    config = validate_config(digits(trials=2, epochs=2, distill={"teacher": f"run:{teacher_id}"}))

    def evaluator():
        made = TrainingEvaluator()
        made.prepare(config)
        attach_teacher(made, config, runs)
        return made

    def numbers(store):
        return [(r.number, r.key, r.metrics["train_loss"], r.metrics["val_accuracy"]) for r in store.history()]

    reference, once = RunStore.create(tmp_path / "a", config, {}), evaluator()
    run_search(config, reference, evaluator=once)
    assert once.teacher_images_computed == 300  # each training image once, for both trials
    store = RunStore.create(tmp_path / "b", config, {})
    stop = StopRequest()
    outcome = run_search(config, store, StopAfter(stop, number=2, epoch=1), evaluator(), stop)
    assert outcome.interrupted and list(store.trial_dir(2).glob("checkpoint-e0001.pt"))
    second = StopAfter(StopRequest(), number=0, epoch=0)
    assert not run_search(config, store, second, evaluator()).interrupted
    assert second.epochs_seen == [(2, 2)]  # epoch 1 of trial 2 was not trained again
    assert numbers(store) == numbers(reference)


def test_with_augmentation_the_teacher_runs_on_each_batch(teacher_run, tmp_path):
    from nasxfer.config import validate_config
    from nasxfer.evaluation.evaluator import TrainingEvaluator
    from nasxfer.search.runner import run_search
    from nasxfer.search.teacher import attach_teacher

    runs, teacher_id = teacher_run
    data = digits(trials=1, distill={"teacher": f"run:{teacher_id}"})
    data["data"]["augment"] = "crop"
    config = validate_config(data)
    made = TrainingEvaluator()
    made.prepare(config)
    attach_teacher(made, config, runs)
    store = RunStore.create(tmp_path / "runs", config, {})
    run_search(config, store, evaluator=made)
    assert made.teacher_images_computed == 0  # nothing cached: each augmented batch is taught as the student sees it
    assert [r.metrics["distilled"] for r in store.history()] == [1]


def test_a_bad_teacher_fails_before_the_run_folder_exists(tmp_path):
    runs = tmp_path / "runs"
    for teacher, says in [
        ("run:nosuchrun", "search.distill.teacher: run 'nosuchrun'"),
        (str(tmp_path / "missing.pt"), "search.distill.teacher: no such model file"),
        (3, "search.distill.teacher: a trial number (3) names no model"),
    ]:
        result, _ = search(tmp_path, runs, "bad", digits(distill={"teacher": teacher}))
        assert result.exit_code == 2, result.output
        assert says in " ".join(result.output.split()), result.output
        assert not runs.exists() or not any(runs.iterdir())


def test_a_teacher_for_other_classes_is_refused(teacher_run, tmp_path):
    from conftest import TINY

    runs, teacher_id = teacher_run
    data = json.loads(json.dumps(TINY))
    data["search"]["distill"] = {"teacher": f"run:{teacher_id}"}
    before = sorted(p.name for p in runs.iterdir())
    result, _ = search(tmp_path, runs, "other", data)
    assert result.exit_code == 2 and "search.distill.teacher: the teacher's classes" in " ".join(result.output.split())
    assert sorted(p.name for p in runs.iterdir()) == before  # nothing written


def test_a_transfer_student_is_refused(teacher_run, tmp_path):
    runs, teacher_id = teacher_run
    data = digits(distill={"teacher": f"run:{teacher_id}"})
    data["model"] = {"backbone": {"name": "resnet20", "weights": "none"}}
    data["search"]["space"] = {"train.lr": {"choices": [0.01, 0.1]}}
    result, _ = search(tmp_path, runs, "transfer", data)
    assert result.exit_code == 2, result.output
    assert "search.distill: the students must be from-scratch networks" in " ".join(result.output.split())
