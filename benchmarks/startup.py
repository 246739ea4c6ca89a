"""Start-up: ``import xr_coregix`` and ``align-image-pair --help``, against ``import xarray``.

The floor is ``import xarray``: registering an accessor needs it. Each command runs as a fresh
process, the commands alternating, ``--repeats`` rounds; printed: the median wall time and the
peak RSS of each.

Run: ``python benchmarks/startup.py [--repeats 7]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "import xarray (floor)": [sys.executable, "-c", "import xarray"],
    "import xr_coregix": [sys.executable, "-c", "import xr_coregix"],
    "align-image-pair --help": [sys.executable, "-m", "xr_coregix", "--help"],
    "import rioxarray (for scale)": [sys.executable, "-c", "import rioxarray"],
}


def _run(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of ``command`` as a child process."""
    start = time.perf_counter()
    pid = subprocess.Popen(command, stdout=subprocess.DEVNULL).pid
    _, status, usage = os.wait4(pid, 0)
    if status:
        raise SystemExit(f"{' '.join(command)} failed with status {status}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores); "
          f"{shutil.which('align-image-pair') or 'python -m xr_coregix'}")  # fmt: skip
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    peaks: dict[str, float] = {}
    for _ in range(args.repeats):
        for name, command in COMMANDS.items():
            wall, peak = _run(command)
            times[name].append(wall)
            peaks[name] = max(peaks.get(name, 0.0), peak)
    floor = statistics.median(times["import xarray (floor)"])
    for name in COMMANDS:
        median = statistics.median(times[name])
        print(f"{name:30s} {median:5.2f} s ({median / floor:4.2f} x the floor)  "
              f"peak RSS {peaks[name]:5.0f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
