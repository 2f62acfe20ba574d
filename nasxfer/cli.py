"""The ``nasxfer`` command line: parse options, call the library, print.

The only module that prints and the only one that turns a ``NasxferError`` into one line
on stderr and exit code 2. Heavy modules (torch) are imported inside the commands that
need them, so ``--help`` and ``validate`` start fast.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from nasxfer.errors import NasxferError

# FinetuneConfig's defaults, shown in `finetune --help` without importing the config schema
# at start-up (tests/test_cli_help.py checks that they agree).
FINETUNE_DEFAULTS = {"epochs": 30, "seeds": 1}


class _FlagOption(typer.core.TyperOption):
    """A flag takes no value: its help row shows no ``<bool>`` type."""

    def display_type_rich(self, ctx):
        return None


def _untyped_flags(params):
    for param in params:
        if type(param) is typer.core.TyperOption and param.is_flag:
            param.__class__ = _FlagOption  # same object, one method different: Typer offers no hook for this
    return params


class _Command(typer.core.TyperCommand):
    def get_params(self, ctx):
        return _untyped_flags(super().get_params(ctx))


class _Group(typer.core.TyperGroup):
    def get_params(self, ctx):
        return _untyped_flags(super().get_params(ctx))


app = typer.Typer(
    name="nasxfer",
    help="Neural architecture search with transfer learning for image classifiers.",
    cls=_Group,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            text = version("nasxfer")
        except PackageNotFoundError:  # run from a source tree that was never installed
            from nasxfer import __version__ as text
        typer.echo(f"nasxfer {text}")
        raise typer.Exit()


@app.callback()
def _main(
    show_version: bool = typer.Option(False, "--version", is_eager=True, callback=_show_version, help="Print the version and exit."),
) -> None:
    """Neural architecture search with transfer learning for image classifiers."""
# soft_wrap: a message is one line however narrow the terminal (paths, ids and numbers stay
# whole when copied); tables go through _print_table.
console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)

TrustFactory = typer.Option(
    False, "--trust-factory", help="Load a model whose backbone is built by a factory function (runs that code): only for runs you trust."
)
NoVerify = typer.Option(False, "--no-verify", help="Load a model file that has no recorded sha256 (a mismatching one is still refused).")
RunsDir = typer.Option(
    None, "--runs-dir", envvar="NASXFER_RUNS_DIR", show_default="./runs", help="Folder of run folders."
)
Overrides = typer.Option(
    [], "--set", "-s", metavar="KEY=VALUE", help="Override a config field, e.g. --set train.lr=0.05 (repeatable)."
)


def _runs_dir(value: Optional[Path]) -> Path:
    from nasxfer.storage.store import default_runs_dir

    return Path(value) if value else default_runs_dir()


def _print_table(table) -> None:
    """A table on a terminal; elsewhere (a pipe, a file) plain aligned columns with no
    borders, one line per row, nothing wrapped or cut, so scripts can read it."""
    if console.is_terminal:
        console.print(table)
        return
    table.box = None
    table.show_edge = False
    for column in table.columns:
        column.no_wrap = True
        column.overflow = "ignore"
    Console(width=100_000, no_color=True, highlight=False).print(table)


def _runs_dir_flag(value: Optional[Path]) -> str:
    """`` --runs-dir DIR`` for a printed command when the runs folder is not the default, so
    that the command runs as printed when pasted (from this folder)."""
    import shlex

    if value is None or Path(value) == Path("runs"):
        return ""
    return f" --runs-dir {shlex.quote(str(value))}"


def _fail(message: str) -> None:
    from rich.markup import escape

    # escape: a message such as "pip install 'nasxfer[ray]'" must print as written
    errors.print(f"[bold red]error:[/bold red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _guard(fn):
    """Run a command body, turning the user's errors into one line and exit code 2."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            with _runs_dir_for_the_library(kwargs.get("runs_dir")):
                return fn(*args, **kwargs)
        except NasxferError as exc:
            _fail(str(exc))

    return wrapper


@contextlib.contextmanager
def _runs_dir_for_the_library(runs_dir: Optional[Path]):
    """While a command runs, make its ``--runs-dir`` the process's NASXFER_RUNS_DIR.

    What looks runs up deep in the library (a ``run:<id>`` backbone, built in a worker
    process too) reads the environment; the command's own folder must be the one it sees.
    """
    if runs_dir is None:
        yield
        return
    before = os.environ.get("NASXFER_RUNS_DIR")
    os.environ["NASXFER_RUNS_DIR"] = str(runs_dir)
    try:
        yield
    finally:  # restored: in-process callers (tests, notebooks) keep their own setting
        if before is None:
            os.environ.pop("NASXFER_RUNS_DIR", None)
        else:
            os.environ["NASXFER_RUNS_DIR"] = before


@app.command(cls=_Command)
@_guard
def validate(
    config: Path = typer.Argument(..., help="Experiment config (YAML)."),
    overrides: List[str] = Overrides,
    runs_dir: Optional[Path] = RunsDir,
    quick: bool = typer.Option(
        False, "--quick", help="Check the config alone: no data summary, no backbone built (fast, without torch)."
    ),
) -> None:
    """Check a config as search would before it starts, and print it resolved, with the size
    of its search space, a summary of its data (image files are listed and their headers
    read, none decoded) and each backbone's stages. Trains nothing."""
    from rich.table import Table

    from nasxfer.config import load_config
    from nasxfer.search.preflight import check_before_run

    cfg = load_config(config, overrides)
    space = check_before_run(cfg, _runs_dir(runs_dir))
    console.print(cfg.to_yaml(), highlight=False, end="")
    table = Table(title="search space")
    for column in ("field", "kind", "values"):
        table.add_column(column)
    for row in space.describe():
        table.add_row(*row)
    _print_table(table)
    if space.size == float("inf"):
        console.print("search space size: unbounded (it has continuous dimensions)")
    else:
        console.print(f"search space size: {int(space.size):,} candidates")
    if quick or cfg.search.evaluator.table is not None:  # a table lookup reads no data and builds nothing
        return
    _print_data_and_backbones(cfg)


def _print_data_and_backbones(cfg) -> None:
    """What validate shows beyond the config: the data summary and every backbone's stages."""
    from rich.table import Table

    from nasxfer.data.summary import preview
    from nasxfer.models.backbones.preflight import check_backbones

    for line in preview(cfg.data, cfg.seed).lines():
        console.print(line, highlight=False, soft_wrap=True)
    for description, stages in check_backbones(cfg).items():
        console.print(f"backbone {description}: {len(stages)} stages (unfreeze N trains the top N)", highlight=False, soft_wrap=True)
        table = Table()
        for column in ("stage", "starts at", "parameters"):
            table.add_column(column, justify="right" if column != "starts at" else "left")
        for stage in stages:
            table.add_row(str(stage["stage"]), stage["starts_at"], f"{stage['parameters']:,}")
        _print_table(table)


@app.command(cls=_Command)
@_guard
def screen(
    config: Path = typer.Argument(..., help="Experiment config (YAML)."),
    sample: Optional[int] = typer.Option(None, "--sample", help="Candidates to draw and score (default: search.screen.sample, else 100; with only backbone scores and a backbone dimension, every backbone)."),
    scores: List[str] = typer.Option([], "--score", help="A score to rank by (repeatable: several are rank-averaged); default: search.screen.score, else logme with a backbone, naswot without."),
    as_json: bool = typer.Option(False, "--json", help="Print the ranking as JSON."),
    output: Optional[Path] = typer.Option(None, "--output", help="Also write the ranking as JSON to this file."),
    overrides: List[str] = Overrides,
    runs_dir: Optional[Path] = RunsDir,
) -> None:
    """Rank candidates of a config's search space without training any: zero-cost scores of
    the untrained networks, or transferability scores of the backbones' frozen features.
    Writes nothing unless --output."""
    from nasxfer.config import load_config
    from nasxfer.screening.listing import screen_listing, screen_table
    from nasxfer.search.space import SearchSpace

    cfg = load_config(config, overrides)
    if output is not None and not output.parent.is_dir():
        from nasxfer.errors import ConfigError

        raise ConfigError(f"--output: folder '{output.parent}' does not exist (create it, or write elsewhere)")
    listing = screen_listing(cfg, SearchSpace.from_config(cfg), sample, scores)
    text = json.dumps(listing, indent=2, allow_nan=False)
    if output is not None:
        from nasxfer.storage.atomic import atomic_write_text

        atomic_write_text(output, text + "\n")
    if as_json:
        typer.echo(text)
        return
    _print_table(screen_table(listing))


class SchemaFormat(str, Enum):
    markdown = "markdown"
    json = "json"


@app.command()
def schema(
    format: SchemaFormat = typer.Option(
        SchemaFormat.markdown, "--format", "-f", help="markdown: the config reference (docs/config.md); json: the JSON Schema (docs/nasxfer.schema.json)."
    ),
) -> None:
    """Print the config reference: every field's type, default and meaning, and each strategy's options.

    Generated from the schema, so it is never out of date. To refresh the checked-in copies: nasxfer schema > docs/config.md, and nasxfer schema --format json > docs/nasxfer.schema.json (the JSON Schema editors use to check and complete configs).
    """
    from nasxfer.config.reference import json_text, markdown_reference

    sys.stdout.write(json_text() if format is SchemaFormat.json else markdown_reference())


class LogFormat(str, Enum):
    auto = "auto"
    plain = "plain"
    json = "json"


@app.command(cls=_Command)
@_guard
def search(
    config: Optional[Path] = typer.Argument(None, help="Experiment config (YAML); omit with --resume."),
    overrides: List[str] = Overrides,
    resume: Optional[str] = typer.Option(
        None, "--resume", metavar="RUN", help="Continue an interrupted run (a run id or 'latest')."
    ),
    runs_dir: Optional[Path] = RunsDir,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the run id and the result."),
    log_format: LogFormat = typer.Option(
        LogFormat.auto, "--log-format", help="auto: live view on a terminal, plain lines otherwise; plain; json: one JSON object per event per line."
    ),
    trust_factory: bool = TrustFactory,
) -> None:
    """Search: propose, train and evaluate candidates; write runs/<run-id>/.

    Ctrl-C (or SIGTERM) stops after the current epoch and says how to resume; a second
    Ctrl-C stops at once. Either way nothing finished is lost.
    """
    from nasxfer.config import load_config
    from nasxfer.evaluation.evaluator import make_evaluator
    from nasxfer.progress.live import make_reporter
    from nasxfer.search.outcome import StopRequest
    from nasxfer.search.preflight import check_before_run
    from nasxfer.search.runner import resume_config, run_search
    from nasxfer.storage.store import RunStore, resolve_run

    if resume is not None:
        if config is not None:
            _fail("search: give a CONFIG or --resume RUN, not both (a resumed run keeps its own config)")
        store = resolve_run(_runs_dir(runs_dir), resume)
        cfg, changes = resume_config(store, overrides)  # written by run_search, under the run's lock
    elif config is None:
        _fail("search: missing CONFIG (e.g. nasxfer search configs/quickstart.yaml), or --resume RUN")
    else:
        cfg, changes = load_config(config, overrides), {}
    if trust_factory:  # a run: backbone over a factory-built model (a new run records it in config.yaml)
        cfg = cfg.apply({"model.backbone.trust_factory": True})
    # Everything that can be checked without training is checked before the run folder
    # exists: first what validate checks too, then what needs the data and the weights.
    check_before_run(cfg, _runs_dir(runs_dir), resumed=resume is not None)
    evaluator = make_evaluator(cfg)
    evaluator.prepare(cfg)  # a bad data path fails here
    if cfg.search.distill is not None:  # the teacher, loaded once for every trial (a bad one fails here too)
        from nasxfer.search.teacher import attach_teacher

        attach_teacher(evaluator, cfg, _runs_dir(runs_dir), trust_factory, events=list(store.events()) if resume is not None else ())
    if resume is None:
        from nasxfer.storage.provenance import collect_env

        store = RunStore.create(_runs_dir(runs_dir), cfg, collect_env(cfg.train.device, cfg.train.threads, cfg.data.num_workers))
    reporter = make_reporter(
        console, quiet=quiet, log_format=log_format.value, run_dir=store.path, tensorboard=cfg.output.tensorboard
    )
    hints = errors if log_format is LogFormat.json else console  # keep stdout pure JSON lines
    stop = StopRequest()
    where = _runs_dir_flag(runs_dir)
    resume_hint = f"nasxfer search --resume {store.run_id}{where}"
    try:
        with _stop_on_signals(stop):
            outcome = run_search(cfg, store, reporter, evaluator, stop, config_changes=changes)
    except KeyboardInterrupt:
        getattr(reporter, "stop", lambda: None)()
        errors.print(f"stopped at once; finished trials are kept. Resume with: {resume_hint}", soft_wrap=True)
        raise typer.Exit(130)
    finally:
        getattr(reporter, "stop", lambda: None)()
    if outcome.interrupted:
        errors.print(f"stopped; finished trials are kept. Resume with: {resume_hint}", soft_wrap=True)
        raise typer.Exit(130)
    hints.print(f"run folder: {store.path}", soft_wrap=True, highlight=False)
    if outcome.best is not None:
        hints.print(
            f"next: nasxfer finetune {store.run_id}{where}  ·  nasxfer report {store.run_id}{where}",
            soft_wrap=True, highlight=False,
        )


@contextlib.contextmanager
def _stop_on_signals(stop):
    """First Ctrl-C or SIGTERM: stop after the current epoch. Second Ctrl-C: stop now."""

    def on_signal(signum, frame):
        if stop.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.request()
        errors.print("stopping after the current epoch… (Ctrl-C again to stop at once)")

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class PickRule(str, Enum):
    best = "best"
    fastest = "fastest"
    smallest = "smallest"
    simplest_within_noise = "simplest-within-noise"


@app.command(cls=_Command)
@_guard
def finetune(
    run_id: str = typer.Argument(..., help="Run id (or 'latest')."),
    trial: Optional[int] = typer.Option(None, "--trial", show_default="the best by --pick", help="Trial number."),
    epochs: Optional[int] = typer.Option(None, "--epochs", min=1, show_default=f"finetune.epochs, {FINETUNE_DEFAULTS['epochs']}", help="Training epochs of the final model."),
    pick: PickRule = typer.Option(PickRule.best, "--pick", help="best, fastest (lowest latency) or smallest (fewest params) on the Pareto front; simplest-within-noise: the fewest params within one standard error of the best (needs search.cv)."),
    within: Optional[float] = typer.Option(None, "--within", min=0, help="With --pick: only trials within this much of the best primary metric (0.01 = one accuracy point)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an earlier final model instead of keeping it as final-<n>/."),
    overrides: List[str] = typer.Option(
        [], "--set", "-s", metavar="KEY=VALUE", help="Change a finetune setting, e.g. --set finetune.holdout=0.1 (repeatable)."
    ),
    seeds: Optional[int] = typer.Option(None, "--seeds", min=1, show_default=f"finetune.seeds, {FINETUNE_DEFAULTS['seeds']}", help="Train K times with different seeds; report mean ± std."),
    runs_dir: Optional[Path] = RunsDir,
    trust_factory: bool = TrustFactory,
) -> None:
    """Train the best (or a chosen) trial on finetune.train_on (train+val by default) and test it: runs/<run-id>/final/."""
    from nasxfer.final.finetune import finetune_run
    from nasxfer.storage.store import resolve_run

    store = resolve_run(_runs_dir(runs_dir), run_id)

    def on_epoch(row):
        seed = f"seed {row['seed']} " if "seed" in row else ""
        held = f", held-out acc {row['val_accuracy']:.4f}" if "val_accuracy" in row else ""
        console.print(f"{seed}epoch {row['epoch']}: loss {row['train_loss']:.4f}{held}, {row['images_per_second']:.0f} img/s", highlight=False)

    metrics = finetune_run(
        store, trial=trial, epochs=epochs, on_epoch=on_epoch, pick=pick.value, within=within, seeds=seeds, overwrite=overwrite,
        overrides=overrides, trust_factory=trust_factory,
    )
    best_epoch = f" (best epoch on the held-out slice: {metrics['best_epoch']})" if metrics.get("best_epoch") else ""
    console.print(
        f"trial {metrics['trial']} finetuned, {metrics['training']}{best_epoch}: "
        f"test accuracy {metrics['test_accuracy']:.4f}, macro-F1 {metrics['test_f1']:.4f}",
        highlight=False,
    )
    if metrics.get("distill"):
        d = metrics["distill"]
        teacher_acc = f", teacher test accuracy {d['teacher_test_accuracy']:.4f}" if d.get("teacher_test_accuracy") is not None else ""
        console.print(
            f"distilled from {d['teacher']} (T={d['temperature']:g}, alpha={d['alpha']:g}{teacher_acc}); "
            f"teacher logits {d['teacher_logits']}", soft_wrap=True, highlight=False,
        )  # fmt: skip
    if metrics.get("archived"):
        console.print(f"the earlier final model is kept in {store.path / metrics['archived']} (--overwrite replaces it)", highlight=False)
    if len(metrics["seeds"]) > 1:
        console.print(
            f"over {len(metrics['seeds'])} seeds: test accuracy {metrics['test_accuracy_mean']:.4f} ± "
            f"{metrics['test_accuracy_std']:.4f}, macro-F1 {metrics['test_f1_mean']:.4f} ± {metrics['test_f1_std']:.4f}",
            highlight=False,
        )
    if metrics.get("ensemble"):
        console.print(f"final model: the ensemble of the {metrics['ensemble']} trainings (averaged logits), tested as one above", highlight=False)
    console.print(f"final model: {store.path / 'final' / 'model.pt'}")


class ReportFormat(str, Enum):
    table = "table"
    json = "json"
    md = "md"


@app.command(cls=_Command)
@_guard
def report(
    run_id: str = typer.Argument(..., help="Run id (or 'latest')."),
    format: ReportFormat = typer.Option(
        ReportFormat.table, "--format", "-f", help="table (and write runs/<id>/report/), json or md (to stdout only)."
    ),
    top: Optional[int] = typer.Option(None, "--top", min=1, help="Show the best K trials only."),
    runs_dir: Optional[Path] = RunsDir,
) -> None:
    """Show what a search found; write runs/<run-id>/report/ (index.html, report.md, plots)."""
    from nasxfer.reporting.report import build_report, data_text, leaderboard_table, render_markdown
    from nasxfer.storage.store import resolve_run

    store = resolve_run(_runs_dir(runs_dir), run_id)
    if format is ReportFormat.json:
        sys.stdout.write(json.dumps(build_report(store, top=top), indent=2) + "\n")
        return
    if format is ReportFormat.md:
        sys.stdout.write(render_markdown(build_report(store, top=top)))
        return
    from nasxfer.reporting.files import write_report

    from nasxfer.storage.run_status import RunStatus

    files = write_report(store, top=top)
    data = files.report
    status = RunStatus(**{key: data["status"][key] for key in ("state", "reason", "pid", "host")})
    console.print(f"status: {status.text(store.run_id, _runs_dir_flag(runs_dir))}", highlight=False)
    if data["data"]:
        console.print(f"data: {data_text(data['data'])}", highlight=False, soft_wrap=True)
    _print_table(leaderboard_table(data))
    if data["best"]:
        console.print(f"best trial {data['best']['trial']}: " + json.dumps(data["best"]["values"]), highlight=False, soft_wrap=True)
    if data["final"]:
        console.print(f"final test accuracy: {data['final']['test_accuracy']:.4f}")
    console.print(f"report: {files.html}  ·  {files.markdown}", soft_wrap=True, highlight=False)


@app.command(cls=_Command)
@_guard
def compare(
    run_ids: List[str] = typer.Argument(..., help="Two or more run ids ('latest' works too)."),
    output: Optional[Path] = typer.Option(
        None, "--output", "-o", show_default="<runs-dir>/compare-<id>_vs_<id>.png", help="PNG file for the best-so-far plot."
    ),
    runs_dir: Optional[Path] = RunsDir,
    as_json: bool = typer.Option(False, "--json", help="Print the rows as a JSON list (no plot is written)."),
) -> None:
    """Runs side by side: best metric, trials, time, strategy, backbone; and a best-so-far plot."""
    from nasxfer.reporting.across_runs import compare_rows, compare_table
    from nasxfer.reporting.report import build_report
    from nasxfer.reporting.files import compare_path, write_compare_plot
    from nasxfer.storage.store import resolve_run

    folder = _runs_dir(runs_dir)
    stores = list({store.run_id: store for store in (resolve_run(folder, r) for r in run_ids)}.values())
    if len(stores) < 2:
        raise NasxferError("compare: give two or more different run ids (list them with nasxfer runs)")
    if output is not None and output.suffix.lower() != ".png":
        raise NasxferError(f"--output: '{output}' is not a .png file name (the plot is a PNG)")
    reports = [build_report(store) for store in stores]
    if as_json:
        typer.echo(json.dumps(compare_rows(reports), indent=2, allow_nan=False))
        return
    _print_table(compare_table(reports))
    path = write_compare_plot(reports, output or compare_path(folder, [store.run_id for store in stores]))
    console.print(f"plot: {path}", soft_wrap=True, highlight=False)


@app.command(cls=_Command)
@_guard
def runs(
    runs_dir: Optional[Path] = RunsDir,
    as_json: bool = typer.Option(False, "--json", help="Print the runs as a JSON list."),
) -> None:
    """List the runs in the runs folder, with their status."""
    from nasxfer.reporting.across_runs import runs_rows, runs_table

    if as_json:
        typer.echo(json.dumps(runs_rows(_runs_dir(runs_dir)), indent=2, allow_nan=False))
        return
    _print_table(runs_table(_runs_dir(runs_dir)))


class ExportFormat(str, Enum):
    torchscript = "torchscript"
    onnx = "onnx"
    state_dict = "state_dict"


class Quantize(str, Enum):
    none = "none"
    int8 = "int8"


@app.command(cls=_Command)
@_guard
def export(
    run_id: str = typer.Argument(..., help="Run id (or 'latest')."),
    format: ExportFormat = typer.Option(ExportFormat.torchscript, "--format", "-f", show_choices=False, help="torchscript, onnx or state_dict."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", show_default="runs/<id>/final/model.<ext>", help="File to write."),
    trial: Optional[int] = typer.Option(None, "--trial", help="Export this trial's model instead of the final one."),
    quantize: Quantize = typer.Option(Quantize.none, "--quantize", show_choices=False, help="none, or int8 (with --format onnx): static post-training quantization, tested against the float model."),
    calibration: int = typer.Option(300, "--calibration", min=1, help="--quantize int8: training images that calibrate the activation ranges."),
    threads: int = typer.Option(1, "--threads", min=1, help="--quantize int8: ONNX Runtime threads for the latency figures."),
    runs_dir: Optional[Path] = RunsDir,
    trust_factory: bool = TrustFactory,
    no_verify: bool = NoVerify,
) -> None:
    """Export the final (or a trial's) model with its preprocessing and class names.

    --quantize int8 also writes the float and int8 test accuracy, their agreement, size
    and ONNX Runtime CPU latency into the sidecar JSON and prints them in one line."""
    from nasxfer.final.export import SUFFIX, export_model
    from nasxfer.final.inference import load_classifier, model_file
    from nasxfer.storage.store import resolve_run

    if quantize is Quantize.int8 and format is not ExportFormat.onnx:
        _fail(
            f"--quantize int8: only with --format onnx (int8 {format.value} would need PyTorch's eager/FX "
            "quantization, which is deprecated); export with --format onnx --quantize int8 and run it in ONNX Runtime"
        )
    store = resolve_run(_runs_dir(runs_dir), run_id)
    path, sha256, what = model_file(store, trial)
    classifier = load_classifier(path, sha256, trust_factory=trust_factory, verify=not no_verify)
    source = f"run {store.run_id}, {what}"
    if quantize is Quantize.int8:
        from nasxfer.final.int8 import data_of, export_int8, summary_line

        target = output or (path.parent / "model.int8.onnx")
        data, seed = data_of(classifier)
        report = export_int8(classifier, target, source, data, calibration=calibration, threads=threads, seed=seed)
        console.print(f"exported {what} as int8 onnx: {target} (+ {target.name}.json)", soft_wrap=True, highlight=False)
        console.print(summary_line(report), soft_wrap=True, highlight=False)
        for note in report["notes"]:
            console.print(f"note: {note}", soft_wrap=True, highlight=False)
        return
    target = output or (path.parent / f"model{SUFFIX[format.value]}")
    export_model(classifier, format.value, target, source)
    console.print(f"exported {what} as {format.value}: {target} (+ {target.name}.json)", soft_wrap=True, highlight=False)


@app.command(cls=_Command)
@_guard
def predict(
    run_id: str = typer.Argument(..., help="Run id (or 'latest')."),
    paths: List[Path] = typer.Argument(..., help="Image files or folders (searched recursively)."),
    top_k: int = typer.Option(1, "--top-k", "-k", min=1, help="How many classes per image."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write predictions to a .csv or .json file."),
    trial: Optional[int] = typer.Option(None, "--trial", help="Use this trial's model instead of the final one."),
    runs_dir: Optional[Path] = RunsDir,
    trust_factory: bool = TrustFactory,
    no_verify: bool = NoVerify,
) -> None:
    """Classify images with a run's model, on the CPU; unreadable files are reported and skipped."""
    import csv
    import io

    from nasxfer.storage.atomic import atomic_write_text
    from nasxfer.final.inference import load_classifier, model_file, predict_files, predictions_as_json, predictions_as_rows
    from nasxfer.storage.store import resolve_run

    if output is not None and output.suffix.lower() not in (".csv", ".json"):
        _fail(f"--output: '{output}' must end in .csv or .json")
    store = resolve_run(_runs_dir(runs_dir), run_id)
    path, sha256, what = model_file(store, trial)
    if trial is None and "not finetuned" in what:
        errors.print(f"note: run {store.run_id} has no final model yet; using {what}", soft_wrap=True)
    classifier = load_classifier(path, sha256, trust_factory=trust_factory, verify=not no_verify)
    results = predict_files(classifier, paths, top_k=top_k)
    for bad in (r for r in results if r.top is None):
        errors.print(f"skipped {bad.path}: {bad.error}", soft_wrap=True, highlight=False)
    rows = predictions_as_rows(results, top_k)
    if output is not None:
        if output.suffix.lower() == ".json":
            atomic_write_text(output, predictions_as_json(results) + "\n")
        else:
            buffer = io.StringIO()
            fields = ["path"] + [f"{k}_{i}" for i in range(1, top_k + 1) for k in ("class", "probability")]
            writer = csv.DictWriter(buffer, fieldnames=fields, restval="")
            writer.writeheader()
            writer.writerows(rows)
            atomic_write_text(output, buffer.getvalue())
        console.print(f"{len(rows)} predictions written to {output}", soft_wrap=True, highlight=False)
    else:
        for row in rows:
            tops = ", ".join(f"{row[f'class_{i}']} {row[f'probability_{i}']:.3f}" for i in range(1, top_k + 1) if f"class_{i}" in row)
            console.print(f"{row['path']}: {tops}", soft_wrap=True, highlight=False, markup=False)
    if not rows:
        _fail("predict: no readable image among the given paths")


def main() -> None:  # the console script
    app()


if __name__ == "__main__":
    main()
