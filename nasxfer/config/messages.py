"""One-line messages for config problems: pydantic's errors become ``field.path: problem (fix)``.

``format_validation_error`` turns a ``ValidationError`` into the text of a ``ConfigError``;
``known_name`` is the validators' check of a name against its choices, with a "did you mean".
"""

from __future__ import annotations

import difflib
import re
import typing

from pydantic import BaseModel, ValidationError


def format_validation_error(exc: ValidationError, root: type[BaseModel]) -> str:
    """The first error as one line, ``field.path: what is wrong (fix)``, plus a count of the rest.

    ``root`` is the model that was validated (``Config``): unknown keys are looked up in it.
    """
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = [str(p) for p in first["loc"]]
    field = ".".join(loc) or "config"
    kind = first["type"]
    if kind == "extra_forbidden":
        message = unknown_key_message(root, loc)
    elif kind == "missing":
        message = "is required"
    else:
        message = first["msg"]
        for prefix in ("Value error, ", "Assertion failed, "):
            message = message.removeprefix(prefix)
        message = message[0].lower() + message[1:] if message else message
        if kind in ("int_parsing", "float_parsing", "bool_parsing", "int_type", "float_type") and "input" in first:
            message += f" (got {first['input']!r})"
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    if not loc and re.match(r"^[\w.]+: ", message):
        return f"{message}{more}"  # a whole-config check that names its own field
    return f"{field}: {message}{more}"


# Names people bring from other tools, which no edit distance links to nasxfer's.
SYNONYMS = {
    "learning_rate": "lr", "learningrate": "lr", "base_lr": "lr", "wd": "weight_decay",
    "bs": "batch_size", "batch": "batch_size", "batchsize": "batch_size", "epoch": "epochs",
    "num_epochs": "epochs", "n_epochs": "epochs", "max_epochs": "epochs", "optim": "optimizer",
    "warmup": "warmup_epochs", "scheduler": "schedule", "lr_schedule": "schedule", "smoothing": "label_smoothing",
}


def closest_key(name: str, allowed) -> str | None:
    """The allowed key a misspelt or foreign ``name`` most likely means, or None."""
    allowed = list(allowed)
    if SYNONYMS.get(name.lower()) in allowed:
        return SYNONYMS[name.lower()]
    close = difflib.get_close_matches(name, allowed, n=1)
    return close[0] if close else None


def unknown_key_message(root: type[BaseModel], loc: list[str]) -> str:
    """``unknown key`` at ``loc`` inside ``root``, with the allowed keys and the closest one."""
    model = root
    for part in loc[:-1]:
        field = model.model_fields.get(part)
        annotation = getattr(field, "annotation", None)
        # An optional section (`BackboneConfig | None`) names its model inside the union.
        candidates = (annotation, *typing.get_args(annotation))
        section = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if section is None:
            break
        model = section
    allowed = list(model.model_fields)
    close = closest_key(str(loc[-1]), allowed)
    hint = f" — did you mean '{close}'?" if close else ""
    return f"unknown key{hint} (allowed: {', '.join(allowed)})"


def known_name(name: str, choices: tuple[str, ...], what: str) -> str:
    """``name`` if it is one of ``choices``, else a ``ValueError`` naming the closest one."""
    if name in choices:
        return name
    close = difflib.get_close_matches(name, choices, n=1) or [c for c in choices if c.startswith(str(name))][:1]
    hint = f" — did you mean '{close[0]}'?" if close else ""
    raise ValueError(f"unknown {what} {name!r}{hint} (choices: {', '.join(choices)})")
