"""Wall time of commands that train nothing, against the interpreter's own start-up.

`nasxfer --help` and `nasxfer validate --quick` must not import torch; target: under 0.5 s.
Plain `validate` also summarises the data and builds each backbone, so it imports torch;
it is timed beside them for reference.

    python benchmarks/startup.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "nasxfer --help": [sys.executable, "-m", "nasxfer.cli", "--help"],
    "nasxfer validate configs/quickstart.yaml --quick": [sys.executable, "-m", "nasxfer.cli", "validate", "configs/quickstart.yaml", "--quick"],
    "nasxfer validate configs/quickstart.yaml": [sys.executable, "-m", "nasxfer.cli", "validate", "configs/quickstart.yaml"],
}


def wall(command: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def torch_imported(command: list[str]) -> bool:
    probe = "import sys, runpy; sys.argv = {argv!r}; \ntry:\n    runpy.run_module('nasxfer.cli', run_name='__main__')\nexcept SystemExit:\n    pass\nprint('torch' in sys.modules)"
    argv = ["nasxfer", *command[3:]]
    out = subprocess.run([sys.executable, "-c", probe.format(argv=argv)], cwd=ROOT, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1] == "True"


def main() -> None:
    repeats = 7
    base = wall(COMMANDS["python -c pass"], repeats)
    print(f"| command | median wall s | vs python -c pass | imports torch |\n|---|---|---|---|")
    for name, command in COMMANDS.items():
        seconds = base if name.startswith("python") else wall(command, repeats)
        torch_flag = "-" if name.startswith("python") else ("yes" if torch_imported(command) else "no")
        print(f"| {name} | {seconds:.3f} | {seconds / base:.1f}x | {torch_flag} |")
    print("target: nasxfer --help and validate --quick under 0.5 s, without importing torch")


if __name__ == "__main__":
    main()
