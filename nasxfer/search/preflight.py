"""What ``nasxfer validate`` and ``nasxfer search`` both check before a run folder exists.

One function, so that validate passes only what search would start: the space, strategy,
scheduler, pruner and executor (``runner.check_search_setup``), the warm-start run, the
optional packages the outputs need, the data's folders, every backbone's source and the distillation teacher's model file. Nothing
here loads data, reads weights or trains; search then loads the data and builds the
backbones, which finds what only reading the files can (a broken image, a checkpoint of
another architecture).
"""

from __future__ import annotations

from pathlib import Path

from nasxfer.config import Config
from nasxfer.data.paths import check_data_paths
from nasxfer.models.backbone_sources import check_backbone_sources
from nasxfer.progress.live import check_log_outputs
from nasxfer.search.objectives import objective_of
from nasxfer.search.runner import check_search_setup
from nasxfer.search.space import SearchSpace
from nasxfer.search.teacher import check_search_distill
from nasxfer.search.warm_start import warm_start_candidates


def check_before_run(config: Config, runs_dir: Path, *, resumed: bool = False) -> SearchSpace:
    """Check ``config`` as far as it can be without data or training; returns its space.

    ``runs_dir`` is where a warm-start run is looked up. A ``resumed`` run has its
    warm-start candidates in its journal, so the earlier run is not needed again.
    """
    space = check_search_setup(config)
    if not resumed:
        warm_start_candidates(config, runs_dir, space, objective_of(config))
    check_log_outputs(config)
    if config.search.evaluator.table is None:  # a table lookup never reads the data
        check_data_paths(config.data)
    check_backbone_sources(config)
    check_search_distill(config, runs_dir)
    return space
