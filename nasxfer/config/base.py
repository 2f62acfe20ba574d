"""What every config section shares: the ``Strict`` base model and validators used by more than one section."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Base for every section: unknown keys are errors and values never change in place."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def stage_count(unfreeze: Any) -> int | str:
    # Shared by model.finetune.unfreeze and finetune.unfreeze, which must accept the same values.
    if unfreeze == "all" or (isinstance(unfreeze, int) and not isinstance(unfreeze, bool) and 0 <= unfreeze <= 1000):
        return unfreeze
    raise ValueError(f"give a number of stages (0 = linear probe, up to 1000) or all (got {unfreeze!r})")
