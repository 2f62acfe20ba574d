"""Training-free screening: scores that rank candidates before any of them is trained.

Two kinds of score, each one file, registered here by name (as strategies are):

- *architecture* scores take the built, untrained network and one batch of training
  images (``naswot``, ``synflow``, ``grad_norm``, ``snip``, ``jacob_cov``, and the
  baselines ``params`` and ``flops``);
- *backbone* scores take frozen features of the target data and its labels, and where the
  backbone kept its source classifier, that classifier's outputs (``logme``, ``hscore``,
  ``nce``, ``leep``, and the baselines ``linear_probe`` and ``knn``).

Larger is better for every score. Each is deterministic given its seed and is timed by
``compute_score``. ``candidates.py`` applies them to a config's candidates (building the
network, drawing the batch, extracting features); ``ranking.py`` orders and rank-averages.
Never trains a candidate and never writes a run folder: the search journals what it returns.
Score modules are imported on demand, so listing the names costs nothing.
"""

from __future__ import annotations

import difflib
import importlib

from nasxfer.errors import ConfigError

#: name -> "module:class"
_REGISTRY: dict[str, str] = {
    "naswot": "nasxfer.screening.naswot:NASWOT",
    "synflow": "nasxfer.screening.synflow:Synflow",
    "grad_norm": "nasxfer.screening.grad_norm:GradNorm",
    "snip": "nasxfer.screening.snip:Snip",
    "jacob_cov": "nasxfer.screening.jacob_cov:JacobCov",
    "params": "nasxfer.screening.params:Params",
    "flops": "nasxfer.screening.flops:Flops",
    "logme": "nasxfer.screening.logme:LogME",
    "hscore": "nasxfer.screening.hscore:HScore",
    "nce": "nasxfer.screening.nce:NCE",
    "leep": "nasxfer.screening.leep:LEEP",
    "linear_probe": "nasxfer.screening.linear_probe:LinearProbe",
    "knn": "nasxfer.screening.knn:KNN",
}
SCORE_NAMES: tuple[str, ...] = tuple(_REGISTRY)
ARCHITECTURE_SCORES: tuple[str, ...] = ("naswot", "synflow", "grad_norm", "snip", "jacob_cov", "params", "flops")
BACKBONE_SCORES: tuple[str, ...] = ("logme", "hscore", "nce", "leep", "linear_probe", "knn")


def check_score_name(name: str, field: str = "--score") -> str:
    """``name`` if it is a registered score; ``ConfigError`` naming ``field`` and the choices otherwise."""
    if name in SCORE_NAMES:
        return name
    close = difflib.get_close_matches(str(name), SCORE_NAMES, n=1)
    hint = f" — did you mean '{close[0]}'?" if close else ""
    raise ConfigError(f"{field}: unknown score {name!r}{hint} (choices: {', '.join(SCORE_NAMES)})")


def score_kind(name: str) -> str:
    """``architecture`` or ``backbone``."""
    return "architecture" if name in ARCHITECTURE_SCORES else "backbone"


def create_score(name: str):
    """An instance of the score registered as ``name``."""
    check_score_name(name, "score")
    module_name, _, class_name = _REGISTRY[name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)()
