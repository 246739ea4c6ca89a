"""Speed and memory of one ``register`` call on a 1200 x 1200 pair.

In a fresh process per pair kind: a misregistered copy of the 15 m pan band (B8,
1207 x 1254 px) against B8 itself, and against the 30 m red band (B4). Prints the median wall
seconds of 5 ``register`` calls and the peak RSS: of the whole process (about 230 MB of it is
the imported libraries), and its growth during the calls, the inputs being read before.
Target: under 2 s and 300 MB.

Run: ``python benchmarks/speed_memory.py [DATA_DIR]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from synthetic import misregister, rigid

import xr_coregix


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_mb() -> float:
    """Resident memory now (Linux), MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(moving_path: Path, fixed_path: Path) -> dict[str, float]:
    """Time ``register`` on one pair, in this process (inputs read before the clock starts)."""
    moving = xr_coregix.open_raster(moving_path, "moving").load()
    fixed = xr_coregix.open_raster(fixed_path, "fixed").load()
    before = current_mb()
    seconds = []
    for _ in range(5):
        start = time.perf_counter()
        xr_coregix.register(moving, fixed)
        seconds.append(time.perf_counter() - start)
    return {"seconds": statistics.median(seconds), "peak": peak_mb(), "growth": peak_mb() - before,
            "megapixels": moving.size / 1e6}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=ROOT.parent / "shared/data/landsat8")
    parser.add_argument("--run", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        print(json.dumps(run(*map(Path, args.run))))
        return
    b8_path = args.data / "l8_B8.tif"
    b8 = xr_coregix.open_raster(b8_path, "B8")
    grid = b8.odc.geobox
    moving = misregister(b8, rigid(2.7, -1.6, 0.4, grid), grid).astype("float32")
    print(f"{'pair':<7}{'Mpx':>6}{'median s':>10}{'peak RSS MB':>13}{'growth MB':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        moving_path = xr_coregix.write_geotiff(moving, Path(tmp) / "moving.tif")
        for kind, fixed_path in (("B8/B8", b8_path), ("B8/B4", args.data / "l8_B4.tif")):
            command = [sys.executable, __file__, "--run", str(moving_path), str(fixed_path)]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            fig = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"{kind:<7}{fig['megapixels']:6.2f}{fig['seconds']:10.2f}{fig['peak']:13.0f}"
                  f"{fig['growth']:11.0f}")  # fmt: skip
    print("target: under 2 s and 300 MB for the register call on a 1200 x 1200 pair")


if __name__ == "__main__":
    main()
