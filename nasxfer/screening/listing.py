"""What ``nasxfer screen`` shows: a config's candidates scored without training, best first.

``screen_listing`` returns a plain dict (the ``--json`` and ``--output`` form) that
``screen_table`` turns into a table; the CLI only prints them.
"""

from __future__ import annotations

import time
from typing import Sequence

from nasxfer.errors import ConfigError
from nasxfer.screening import check_score_name, score_kind

DEFAULT_SAMPLE = 100


def default_scores(config) -> list[str]:
    """``search.screen``'s scores, else ``logme`` for a transfer config, else ``naswot``."""
    if config.search.screen is not None:
        return config.search.screen.scores
    return ["logme"] if config.model.kind == "transfer" else ["naswot"]


def screen_listing(config, space, sample: int | None = None, scores: Sequence[str] = (), device: str | None = None) -> dict:
    """Score ``sample`` candidates of ``space`` (or every backbone of a ``model.backbone.name``
    dimension when only backbone scores are asked), rank-averaging several scores."""
    from nasxfer.screening.candidates import Screener, backbone_candidates, check_scores, sample_candidates
    from nasxfer.search.screened import finite_or_none, rank_screened

    names = [check_score_name(n) for n in scores] or default_scores(config)
    if len(set(names)) != len(names):
        raise ConfigError("--score: a score is named twice")
    check_scores(config, names, "--score")
    if sample is not None and sample < 1:
        raise ConfigError("--sample: give at least 1 candidate")
    n = sample or (config.search.screen.sample if config.search.screen else DEFAULT_SAMPLE)
    by_backbone = all(score_kind(name) == "backbone" for name in names) and sample is None
    candidates = (backbone_candidates(space) if by_backbone else None) or sample_candidates(space, n, config.seed)
    screener = Screener(config, names, seed=config.seed, device=device)
    started = time.perf_counter()
    rows = []
    for candidate in candidates:
        values = screener.score(candidate)
        rows.append(
            {
                "key": candidate.key,
                "values": candidate.as_dict(),
                "scores": {k: finite_or_none(values[k].value) for k in names},
                "seconds": {k: values[k].seconds for k in names},
            }
        )
    ranked = rank_screened(rows, names)
    for rank, row in enumerate(ranked, 1):
        row["rank"] = rank
    return {
        "config": config.name,
        "scores": names,
        "candidates": len(rows),
        "by_backbone": by_backbone and backbone_candidates(space) is not None,
        "seconds": time.perf_counter() - started,
        "ranking": ranked,
    }


def screen_table(listing: dict):
    """The listing as a rich ``Table``: rank, the varied values, each score, its seconds."""
    from rich.markup import escape
    from rich.table import Table

    names = listing["scores"]
    title = f"{listing['candidates']} candidates scored without training in {listing['seconds']:.1f} s"
    if len(names) > 1:
        title += " (ranked by the average of their ranks)"
    table = Table(title=title)
    table.add_column("rank", justify="right")
    table.add_column("candidate")
    for name in names:
        table.add_column(name, justify="right")
    table.add_column("seconds", justify="right")
    for row in listing["ranking"]:
        described = escape(", ".join(f"{path}={_short(v)}" for path, v in row["values"].items()) or "(the config)")
        table.add_row(
            str(row["rank"]), described, *("—" if row["scores"][n] is None else f"{row['scores'][n]:.6g}" for n in names), f"{sum(row['seconds'].values()):.2f}"
        )
    return table


def _short(value) -> str:
    if isinstance(value, list):
        return "[" + ",".join(map(str, value)) + "]"
    return str(value)
