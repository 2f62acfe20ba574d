"""Look trials up in a NAS-Bench-Macro table instead of training them.

NAS-Bench-Macro (Su et al., CVPR 2021) trained every network of its macro space on
CIFAR-10 with three seeds. Its JSON maps an 8-digit key, one digit per layer (``0``
identity, ``1`` mbconv k3 e3, ``2`` mbconv k5 e6), to ``{"test_acc": [3 seeds],
"mean_acc", "std", "params", "flops"}``. A lookup costs microseconds, so strategies can be
compared over thousands of searches; one trial sees one seed's accuracy (chosen by its
seed), as a real search sees one noisy training run.

The space must be the benchmark's: ``model.scratch`` with stem 32, stages [2, 3, 3],
head 1280, and only ``model.scratch.ops`` searched, over the three ops above.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from nasxfer.config import Config, ScratchConfig
from nasxfer.search.constraints import broken_constraint
from nasxfer.errors import CandidateRejected, ConfigError, NasxferError
from nasxfer.evaluation.outcome import TrialOutcome

#: The op of each key digit, in digit order.
MACRO_OPS: tuple[str, ...] = ("identity", "mbconv_k3_e3", "mbconv_k5_e6")
MACRO_LAYOUT = {"stem_channels": 32, "stages": [2, 3, 3], "head_channels": 1280}

_TABLES: dict[str, dict[str, dict[str, Any]]] = {}  # resolved path -> table, once per process


def load_table(path: str | Path) -> dict[str, dict[str, Any]]:
    """The table at ``path`` (relative to the current directory), read once per process."""
    path = Path(path)
    resolved = str(path.resolve())
    if resolved in _TABLES:
        return _TABLES[resolved]
    if not path.is_file():
        raise ConfigError(
            f"search.evaluator.table: no such file '{path}' (relative paths resolve against the "
            f"current directory, '{Path.cwd()}')"
        )
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"search.evaluator.table: '{path}' is not a JSON table ({exc})") from None
    if not isinstance(table, dict) or not all(_is_entry(v) for v in table.values()):
        raise ConfigError(
            f"search.evaluator.table: '{path}' is not in NAS-Bench-Macro format "
            '({"01201100": {"test_acc": [...], "mean_acc": ..., "params": ..., "flops": ...}, ...})'
        )
    _TABLES[resolved] = table
    return table


def _is_entry(entry: Any) -> bool:
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("test_acc"), list)
        and len(entry["test_acc"]) > 0
        and all(isinstance(entry.get(k), (int, float)) for k in ("mean_acc", "params", "flops"))
    )


def macro_key(scratch: ScratchConfig) -> str:
    """The table key of a ``model.scratch`` network; ``NasxferError`` if it is not in the space."""
    layout = {name: getattr(scratch, name) for name in MACRO_LAYOUT}
    if layout != MACRO_LAYOUT:
        raise NasxferError(f"model.scratch: {layout} is not NAS-Bench-Macro's layout {MACRO_LAYOUT}")
    unknown = [op for op in scratch.ops if op not in MACRO_OPS]
    if unknown:
        raise NasxferError(
            f"model.scratch.ops: op '{unknown[0]}' is not in NAS-Bench-Macro (choices: {', '.join(MACRO_OPS)})"
        )
    return "".join(str(MACRO_OPS.index(op)) for op in scratch.ops)


def table_metrics(table: dict[str, dict[str, Any]], key: str, seed: int) -> dict[str, float]:
    """A trial's metrics: the accuracy of the run ``seed`` picks, as a fraction like training's."""
    entry = table.get(key)
    if entry is None:
        raise NasxferError(f"model.scratch.ops: architecture {key} is not in the table")
    runs = entry["test_acc"]
    return {
        "val_accuracy": float(runs[seed % len(runs)]) / 100,
        "mean_accuracy": float(entry["mean_acc"]) / 100,
        "params": float(entry["params"]),
        # The table's "flops" are its own multiply-accumulate count; nasxfer's flops count 2 per MAC.
        "macs": float(entry["flops"]),
        "flops": 2 * float(entry["flops"]),
        "epochs": 0.0,
        "seconds": 0.0,
    }


class TableEvaluator:
    """Evaluates a candidate by looking its architecture up in ``search.evaluator.table``."""

    def prepare(self, config: Config) -> None:
        """Load the table and check that every candidate of the space can be looked up."""
        load_table(config.search.evaluator.table)
        for path, dim in config.search.space.items():
            if path != "model.scratch.ops":
                raise ConfigError(
                    f"search.space.{path}: a table holds one result per architecture, so it cannot "
                    "evaluate this field (search only model.scratch.ops, or drop search.evaluator.table)"
                )
            if dim.choices is None or any(op not in MACRO_OPS for op in dim.choices):
                raise ConfigError(
                    f"search.space.{path}: NAS-Bench-Macro only has the ops {', '.join(MACRO_OPS)}"
                )
        scratch = config.model.scratch
        try:  # the layout, whatever the ops
            macro_key(scratch.model_copy(update={"ops": [MACRO_OPS[0]] * sum(scratch.stages)}))
        except NasxferError as exc:
            raise ConfigError(f"search.evaluator.table: {exc}") from None

    def evaluate(
        self,
        config: Config,
        *,
        seed: int,
        trial_dir: Path,
        values: dict[str, Any],
        on_epoch: Callable[[dict[str, float]], None] | None = None,
        **_: Any,  # checkpoints, should_stop: a lookup has no epochs to save or interrupt
    ) -> TrialOutcome:
        table = load_table(config.search.evaluator.table)
        metrics = table_metrics(table, macro_key(config.model.scratch), seed)
        reason = broken_constraint(metrics, config.search.constraints)
        if reason:
            raise CandidateRejected(reason, {k: metrics[k] for k in ("params", "flops", "macs")})
        return TrialOutcome(metrics, [])
