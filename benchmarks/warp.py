"""Apply + write of a large tiled raster, against the I/O floor (read + write) in the same run.

Makes an 8192 x 8192 uint16 tiled GeoTIFF (about 128 MB of pixels), then, each in a fresh
process so that peak memory is its own, alternating (gdal, floor, apply) ``--rounds`` times:

- gdal: GDAL's own copy to the same tiling and compression (``rasterio.shutil.copy``, that is
  ``gdal_translate``) with ``NUM_THREADS=2``: multi-threaded compression, the true floor;
- floor: read it lazily and write it back with ``write_geotiff`` (our own I/O, no warp);
- apply: read it lazily, ``apply`` a rigid fit (sub-pixel shift and 0.2 degree rotation) onto its
  own grid, bilinear, and write it with ``write_geotiff``.

Prints each run's wall seconds and peak RSS, the median of each mode, and the ratios apply /
gdal and apply / floor. Target: apply within 1.3 of the floor (1.2 wanted), peak RSS under 1 GB.

Run: ``python benchmarks/warp.py [--size 8192] [--rounds 3] [--workdir DIR]``.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dask.array as dsa
import numpy as np
import rasterio.shutil
import xarray as xr
from affine import Affine
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords

import xr_coregix

MODES = ("gdal", "floor", "apply")


def make_raster(path: Path, size: int) -> None:
    """A textured uint16 raster, written block by block."""
    grid = GeoBox((size, size), Affine(10, 0, 400000, 0, -10, 3500000), "EPSG:32616")
    rng = dsa.random.default_rng(0)
    noise = rng.integers(0, 2000, (size, size), chunks=1024, dtype=np.uint16)
    ramp = dsa.arange(size, chunks=1024, dtype=np.uint16)[None, :] % 4096
    data = (noise + ramp).astype(np.uint16)
    da = xr.DataArray(data, dims=("y", "x"), coords=xr_coords(grid, dims=("y", "x")))
    xr_coregix.write_geotiff(da.rio.write_nodata(0), path)


def run(mode: str, src: Path, out: Path) -> dict[str, float]:
    """One measurement, in this process: read (+ apply) + write."""
    start = time.perf_counter()
    if mode == "gdal":
        rasterio.shutil.copy(
            src, out, driver="GTiff", tiled=True, blockxsize=512, blockysize=512,
            compress="deflate", predictor=2, num_threads=2,
        )  # fmt: skip
        seconds = time.perf_counter() - start
        return {
            "seconds": seconds,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    da = xr_coregix.open_raster(src, "src", chunks=1024)
    if mode == "apply":
        center = da.odc.geobox.affine @ (da.sizes["x"] / 2, da.sizes["y"] / 2)
        fit = xr_coregix.RigidTransform(math.radians(0.2), (3.4, -2.7), center, da.rio.crs)
        da = xr_coregix.apply(da, fit, grid="source")
    xr_coregix.write_geotiff(da, out)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "peak_mb": peak_mb}


def measure(mode: str, src: Path, workdir: Path) -> dict[str, float]:
    """Run one mode in a fresh interpreter and return its figures."""
    out = workdir / f"{mode}.tif"
    command = [sys.executable, __file__, "--run", mode, str(src), str(out)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    out.unlink()
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=8192)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--run", nargs=3, metavar=("MODE", "SRC", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        mode, src, out = args.run
        print(json.dumps(run(mode, Path(src), Path(out))))
        return
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        src = work / "src.tif"
        make_raster(src, args.size)
        print(f"{args.size} x {args.size} uint16, {src.stat().st_size / 2**20:.0f} MB on disk")
        figures = {mode: [] for mode in MODES}
        print(f"{'':8}{'seconds':>10}{'peak RSS MB':>14}")
        for _ in range(args.rounds):
            for mode in MODES:
                fig = measure(mode, src, work)
                figures[mode].append(fig)
                print(f"{mode:8}{fig['seconds']:10.2f}{fig['peak_mb']:14.0f}", flush=True)
    median = {m: statistics.median(f["seconds"] for f in figs) for m, figs in figures.items()}
    peak = {m: max(f["peak_mb"] for f in figs) for m, figs in figures.items()}
    print("median: " + ", ".join(f"{m} {median[m]:.2f} s ({peak[m]:.0f} MB)" for m in MODES))
    print(f"apply / gdal (2-thread GDAL copy): {median['apply'] / median['gdal']:.2f}; "
          f"apply / floor (our read + write): {median['apply'] / median['floor']:.2f} "
          "(target 1.3, wanted 1.2); peak RSS target < 1024 MB")  # fmt: skip


if __name__ == "__main__":
    main()
