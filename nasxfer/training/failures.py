"""Recognising the failures a trial can recover from, without importing torch eagerly."""

from __future__ import annotations

import sys


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA/MPS out-of-memory, whichever way the backend raised it."""
    return type(exc).__name__ == "OutOfMemoryError" or "out of memory" in str(exc).lower()


def free_accelerator_memory() -> None:
    """Give cached GPU blocks back after an OOM so the retry starts from a clean pool."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
