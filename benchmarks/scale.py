"""Memory follows the chunk, not the raster: register + apply + write of growing pairs.

For dask-backed pairs of 4096^2, 8192^2 and 16384^2 uint16 pixels (``benchmarks/_pairs.py``:
real pan-band texture, an exact sub-pixel misregistration), each in a fresh process: open both
lazily (1024-pixel blocks), ``register`` (split factor derived from the size), ``apply`` onto
the source grid and ``write_geotiff``. Prints wall seconds per phase, peak RSS, the split factor
and the residual from the truth. Target: flat peak RSS, under 2 GB at 16384^2.

GDAL's block cache (5 % of RAM by default) would add up to a gigabyte of decoded blocks to
the RSS of any reader; the measured processes run with ``GDAL_CACHEMAX`` set to
``--gdal-cache`` MB (64 by default) so that the figures show xr_coregix's own memory.

Run: ``python benchmarks/scale.py [--sizes 4096 8192 16384] [--workdir DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _pairs import make_pair

import xr_coregix


def run(moving: Path, fixed: Path, out: Path, truth_json: str) -> dict[str, float]:
    """Register, apply and write, in this process; seconds per phase and peak RSS."""
    t0 = time.perf_counter()
    m = xr_coregix.open_raster(moving, "moving", chunks=1024)
    f = xr_coregix.open_raster(fixed, "fixed", chunks=1024)
    fit = m.coreg.register(f)
    t1 = time.perf_counter()
    register_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    xr_coregix.write_geotiff(m.coreg.apply(grid="source"), out)
    t2 = time.perf_counter()
    truth = xr_coregix.RigidTransform.from_json(truth_json)
    mean, _ = xr_coregix.displacement_error(fit, truth, f.odc.geobox)
    return {
        "register_s": t1 - t0,
        "apply_write_s": t2 - t1,
        "register_peak_mb": register_peak,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "split_factor": fit.diagnostics.split_factor,
        "residual_px": mean,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4096, 8192, 16384])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--gdal-cache", type=int, default=64, help="GDAL_CACHEMAX, MB")
    parser.add_argument("--run", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        moving, fixed, out, truth = args.run
        print(json.dumps(run(Path(moving), Path(fixed), Path(out), truth)))
        return
    print(f"{'size':>6}{'k':>3}{'register s':>12}{'apply+write s':>15}{'peak RSS MB':>13}"
          f"{'(register)':>12}{'residual px':>13}")  # fmt: skip
    for size in args.sizes:
        with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
            moving, fixed, truth = make_pair(size, Path(tmp))
            command = [sys.executable, __file__, "--run", str(moving), str(fixed),
                       str(Path(tmp) / "out.tif"), truth.to_json()]  # fmt: skip
            env = {**os.environ, "GDAL_CACHEMAX": str(args.gdal_cache)}
            done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
            fig = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{size:>6}{fig['split_factor']:>3}{fig['register_s']:12.1f}"
              f"{fig['apply_write_s']:15.1f}{fig['peak_mb']:13.0f}{fig['register_peak_mb']:12.0f}"
              f"{fig['residual_px']:13.4f}")  # fmt: skip
    print(f"GDAL_CACHEMAX={args.gdal_cache} MB; target: peak RSS flat, under 2048 MB at 16384^2")


if __name__ == "__main__":
    main()
