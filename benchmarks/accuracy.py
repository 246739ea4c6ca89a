"""Accuracy on real bands: a table of synthetic misregistrations, residuals in pixels.

Pairs from the Landsat 8 subset in ``shared/data/landsat8`` (or, without it, the crops shipped
in ``tests/data``); the reference is B4 (red, 30 m) without a 40-pixel border:

- ``B4/B4``: B4 against a misregistered copy of itself: the truth is exact.
- ``B5/B4``, ``B3/B4``, ``B8/B4`` (NIR, green, 15 m pan): across bands the truth is not exact
  (cloud parallax offsets the bands), so the differential is reported: the fit of the
  misregistered pair composed with the inverse of the fit of the untouched pair, against the
  synthetic transform.

Prints, per case, the mean and max residual in reference pixels and the seconds of the
``register`` call, then per pair kind the median of the means and of the seconds.

The scene is cloudy: with the cloud guard (the default) the fits keep to the ground but vary
more from one misregistered copy to the next (the excluded areas, cut through haze, fall a
little differently on each resampled copy), so the differential is larger than with
``--no-cloud-guard``, whose fits consistently follow the clouds.

Run: ``python benchmarks/accuracy.py [DATA_DIR] [--raw] [--split-factor K] [--no-cloud-guard]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import rioxarray

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from synthetic import inner, misregister, rigid

import xr_coregix

CASES = [  # dx px, dy px, rotation degrees
    (0.25, -0.4, 0.0),
    (-0.7, 0.15, 0.1),
    (1.5, 2.5, 0.0),
    (3.3, -1.2, 0.5),
    (-4.6, 3.8, -0.8),
    (6.2, 5.1, 1.0),
    (-9.0, -7.5, -0.3),
    (12.0, 0.0, 0.0),
]
MARGIN = 40  # reference pixels left out on each side, so shifted content stays in the scene


def open_band(folder: Path, band: str) -> object:
    """A band of the scene, or its shipped crop when the scene folder does not exist."""
    path = folder / f"l8_{band}.tif"
    if not path.exists():
        path = ROOT / "tests" / "data" / f"crop_{band}.tif"
    return rioxarray.open_rasterio(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=ROOT.parent / "shared/data/landsat8")
    parser.add_argument("--raw", action="store_true", help="register raw values, not proxies")
    parser.add_argument("--split-factor", type=int, default=0, help="2**k chunks (default 0)")
    parser.add_argument("--no-cloud-guard", action="store_true", help="register with the guard off")
    args = parser.parse_args()
    options = {
        "edge_proxy": not args.raw,
        "split_factor": args.split_factor,
        "cloud_guard": not args.no_cloud_guard,
    }
    b4 = open_band(args.data, "B4")
    fixed = inner(b4, MARGIN)
    grid = fixed.odc.geobox
    print(f"reference B4 {grid.shape[1]} x {grid.shape[0]} px at 30 m; edge proxy: {not args.raw}"
          f"; split factor {args.split_factor}")  # fmt: skip
    print(f"{'pair':<7}{'dx':>6}{'dy':>6}{'deg':>6}{'mean px':>10}{'max px':>9}{'seconds':>9}")
    summary = {}
    for band in ("B4", "B5", "B3", "B8"):
        source = b4 if band == "B4" else open_band(args.data, band)
        scale = round(abs(b4.rio.resolution()[0] / source.rio.resolution()[0]))
        own_grid = inner(source, MARGIN * scale).odc.geobox
        clean = None
        if band != "B4":
            clean = xr_coregix.register(inner(source, MARGIN * scale), fixed, **options)
        means, seconds = [], []
        for dx, dy, deg in CASES:
            truth = rigid(dx, dy, deg, grid)
            moving = misregister(source, truth, own_grid)
            start = time.perf_counter()
            fit = xr_coregix.register(moving, fixed, **options)
            seconds.append(time.perf_counter() - start)
            estimate = fit if clean is None else clean.inverse().compose(fit)
            mean, worst = xr_coregix.displacement_error(estimate, truth, grid)
            means.append(mean)
            print(f"{band + '/B4':<7}{dx:6.2f}{dy:6.2f}{deg:6.2f}{mean:10.4f}{worst:9.4f}"
                  f"{seconds[-1]:9.2f}", flush=True)  # fmt: skip
        summary[band] = (statistics.median(means), statistics.median(seconds))
    print("median per pair kind (mean residual px, seconds):")
    for band, (mean, sec) in summary.items():
        kind = "exact truth" if band == "B4" else "differential"
        print(f"  {band}/B4 ({kind}): {mean:.4f} px, {sec:.2f} s")


if __name__ == "__main__":
    main()
