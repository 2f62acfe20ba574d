"""What a result was produced with: versions, device, git revision, command line."""

from __future__ import annotations

import platform
import socket
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import nasxfer


def git_revision(path: Path | None = None) -> str | None:
    """The checkout's commit (with ``-dirty`` when it has changes), or None outside git."""
    cwd = path or Path(__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd, capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{rev}-dirty" if dirty else rev


def collect_env(device_name: str = "auto", threads: str | int = "auto", loader_workers: int = 2) -> dict[str, Any]:
    """Where a run started: versions, host, device, git revision, command, and the CPU
    threads ``train.threads`` chose for its first trial (``threads``; ``cpu_threads`` is
    PyTorch's own default)."""
    import torch

    from nasxfer.training.compute import resolve_device
    from nasxfer.training.threads import current_choice

    device = resolve_device(device_name)
    env: dict[str, Any] = {
        "nasxfer": nasxfer.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "cpu_threads": torch.get_num_threads(),
        "threads": current_choice(threads, loader_workers).to_dict(),
        "git_revision": git_revision(),
        "command": sys.argv,
        "started": datetime.now().isoformat(timespec="seconds"),
    }
    try:
        import torchvision

        env["torchvision"] = torchvision.__version__
    except ImportError:
        env["torchvision"] = None
    return env


def device_text(env: dict[str, Any]) -> str:
    """``cuda (NVIDIA H200)``, ``cpu``: the device an env.json names; ``-`` when it names none."""
    device, name = env.get("device"), env.get("device_name")
    if not device:
        return "-"
    return f"{device} ({name})" if name and name != device else str(device)
