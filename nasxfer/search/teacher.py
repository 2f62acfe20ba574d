"""``search.distill``: the teacher every trial of a search distils from.

Checked before the run folder exists (``check_search_distill``: the teacher's model file
is there, the students are from-scratch networks, trials run in this process), loaded and
checked against the data once per run (``attach_teacher``), then handed to the evaluator,
which distils each trial with ``training.distill`` as ``finetune.distill`` does. The run's
journal names the teacher once (``distill_teacher``: what it is and its file's sha256), so
a resumed search distils its remaining trials from the same teacher or says it cannot.
"""

from __future__ import annotations

from pathlib import Path

from nasxfer.errors import ConfigError, NasxferError

FIELD = "search.distill.teacher"
EVENT = "distill_teacher"


def teacher_file(settings, runs_dir: Path) -> tuple[Path, str | None, str]:
    """``(path, journalled sha256 or None, description)`` of the model ``settings.teacher``
    names: ``run:<id>`` (that run's final model, else its best trial's; looked up in
    ``runs_dir``) or a model file. ``ConfigError`` naming the field when there is none."""
    from nasxfer.search.pick import model_file
    from nasxfer.storage.store import resolve_run

    teacher = settings.teacher
    if teacher.startswith("run:"):
        try:
            other = resolve_run(runs_dir, teacher[4:].strip())
            path, sha256, what = model_file(other)
        except NasxferError as exc:
            raise ConfigError(f"{FIELD}: {exc}") from None
        if not path.is_file():
            raise ConfigError(f"{FIELD}: run '{other.run_id}' has no model file to distil from ({path} is missing)")
        return path, sha256, f"run {other.run_id}, {what}"
    path = Path(teacher).expanduser()
    if not path.is_file():
        raise ConfigError(f"{FIELD}: no such model file '{teacher}' (give run:<id> or a nasxfer .pt model file)")
    return path, None, f"model file {path}"


def check_search_distill(config, runs_dir: Path) -> None:
    """What ``search.distill`` needs, checked without loading anything: a one-line
    ``ConfigError`` for a transfer student, another executor, or a missing teacher."""
    settings = config.search.distill
    if settings is None:
        return
    # A backbone makes a candidate a transfer network: the config's own, or one the space sets.
    if config.model.kind == "transfer" or any(path.startswith("model.backbone") for path in config.search.space):
        raise ConfigError(
            "search.distill: the students must be from-scratch networks (model.kind: scratch); "
            "a transfer model can be the teacher (search.distill.teacher)"
        )
    if config.executor.name != "local":
        raise ConfigError(f"search.distill: trials distil only in the search's own process (executor.name: local), not {config.executor.name}")
    teacher_file(settings, runs_dir)


def attach_teacher(evaluator, config, runs_dir: Path, trust_factory: bool = False, events=()) -> None:
    """Load the teacher once, check it against the run's data, and give it to ``evaluator``
    (a ``TrainingEvaluator``, its data prepared) for every trial.

    ``events``: a resumed run's journal. The teacher it names is loaded again from the file
    it was loaded from (its sha256 checked), even if ``run:<id>`` now names another model
    (that run finetuned since), so the remaining trials distil from the same teacher."""
    from nasxfer.storage.atomic import sha256_file
    from nasxfer.storage.model_files import load_classifier
    from nasxfer.training.compute import resolve_device
    from nasxfer.training.distill import teacher_fits

    settings = config.search.distill
    earlier = next((e for e in events if e.get("event") == EVENT), None)
    if earlier is not None and earlier.get("path") and Path(earlier["path"]).is_file():
        path, sha256, what = Path(earlier["path"]), earlier.get("sha256"), earlier.get("teacher", "")
    else:
        path, sha256, what = teacher_file(settings, runs_dir)
    try:
        teacher = load_classifier(path, sha256, trust_factory=trust_factory, verify=sha256 is not None)
    except NasxferError as exc:
        raise NasxferError(f"{FIELD}: {exc}") from None
    teacher_fits(teacher, evaluator.data_for(config, resolve_device(config.train.device)), FIELD)
    evaluator.distill_from(teacher, settings, what, sha256 or sha256_file(path), path)


def journal_teacher(events, append, description: str, sha256: str, path: Path, settings) -> None:
    """Name the teacher in the journal once; on a resume, insist it is the same file."""
    earlier = [e for e in events if e.get("event") == EVENT]
    if not earlier:
        append(EVENT, teacher=description, sha256=sha256, path=str(Path(path).resolve()),
               temperature=settings.temperature, alpha=settings.alpha)  # fmt: skip
        return
    if earlier[0].get("sha256") != sha256:
        raise NasxferError(
            f"{FIELD}: the teacher's model file is not the one this run started with ({earlier[0].get('teacher')}, "
            f"sha256 {str(earlier[0].get('sha256'))[:12]}); its remaining trials would distil from another teacher"
        )
