"""Datacube scale-out: register, apply and write a synthetic cube on 1 and 2 workers.

A synthetic ``(time, y, x)`` cube of ``--size`` squared uint16 pixels a date (4096 by
default): real pan-band texture (the Landsat 8 B8 crop of ``tests/data``, mirrored to fill the
size, as ``benchmarks/_pairs.py`` does), each date under a known sub-pixel shift of its own
(Lanczos-3, on the fly, block by block) and under soft-edged bright clouds of its own (0 to 35 %
cover; the default cloud guard keeps them out), against the clear reference. The dates are
GeoTIFFs written once into ``--workdir`` (reused by later runs), block by block.

Each run opens the dates lazily (1024-pixel blocks), builds one graph of ``register(...,
compute=False)`` (one fit task a date) and a task a date that applies its date's fit onto the
reference grid and writes a COG, and computes it on a ``LocalCluster`` of ``--workers`` worker
processes with one thread each (``GDAL_CACHEMAX`` set so that the RSS shows xr_coregix's own
memory). The worker counts alternate (1 2 1 2 ...) for ``--repeats`` rounds on the largest
``--dates``, then run once on each smaller one. Printed a row a run: wall seconds, seconds a
date, the peak RSS of each worker and the largest error of the fits against the known shifts.

Targets: 2 workers in at most 0.6 x the time of 1 worker; peak RSS per worker flat in the
number of dates.

Run: ``python benchmarks/cube.py [--size 4096] [--dates 24 12] [--workers 1 2] [--repeats 2]
[--workdir DIR]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import dask
import dask.array as dsa
import numpy as np
import pandas as pd
import rioxarray
import xarray as xr
from affine import Affine
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords

import xr_coregix

ROOT = Path(__file__).resolve().parents[1]
SCENE = ROOT / "tests" / "data" / "scene_B8.tif"
BLOCK = 1024
RES = 15.0
ORIGIN = (400000.0, 3600000.0)
CLOUD_CELL = 96  # pixels of the coarse noise the clouds are cut from
SOFT_EDGE = 4.0  # pixels over which a cloud fades in


def known_shift(date: int) -> tuple[float, float]:
    """The known shift of a date, pixels (x east, y north): spread over about +-3 px."""
    golden = 0.6180339887
    return (round(3.0 * math.sin(2.1 * date + 0.3), 3),
            round(3.0 * math.cos(1.3 * date) * ((date * golden) % 1 * 2 - 1), 3))  # fmt: skip


def cloud_cover(date: int) -> float:
    return round(0.35 * ((date * 0.382) % 1), 3)


def _mirror(index: np.ndarray, n: int) -> np.ndarray:
    """Integer indices folded back and forth onto 0..n-1 (any sign)."""
    period = index % (2 * n)
    return np.where(period < n, period, 2 * n - 1 - period)


def _coarse_field(size: int, date: int) -> np.ndarray:
    """Smooth noise on a coarse lattice (a cell every ``CLOUD_CELL`` pixels), unit std."""
    n = size // CLOUD_CELL + 3
    rng = np.random.default_rng(1000 + date)
    noise = rng.standard_normal((n, n))
    smooth = noise + np.roll(noise, 1, 0) + np.roll(noise, 1, 1) + np.roll(noise, (1, 1), (0, 1))
    return smooth / smooth.std()


def _bilinear(field: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``field`` sampled at fractional ``rows`` x ``cols`` (outer product), bilinearly; rows
    and columns beyond the field fold back into it."""
    r0, c0 = np.floor(rows).astype(int), np.floor(cols).astype(int)
    wr, wc = (rows - r0)[:, None], (cols - c0)[None, :]
    h, w = field.shape
    ra, rb = _mirror(r0, h), _mirror(r0 + 1, h)
    ca, cb = _mirror(c0, w), _mirror(c0 + 1, w)
    top = field[np.ix_(ra, ca)] * (1 - wc) + field[np.ix_(ra, cb)] * wc
    bottom = field[np.ix_(rb, ca)] * (1 - wc) + field[np.ix_(rb, cb)] * wc
    return top * (1 - wr) + bottom * wr


def _lanczos(fraction: float, taps: int = 3) -> np.ndarray:
    """Lanczos weights of the ``2 * taps`` neighbours ``-taps + 1 .. taps`` of a point
    ``fraction`` (0..1) past a sample, normalised to sum 1."""
    x = np.arange(-taps + 1, taps + 1) - fraction
    weights = np.sinc(x) * np.sinc(x / taps)
    return weights / weights.sum()


def _shifted(scene: np.ndarray, rows: np.ndarray, cols: np.ndarray, dy: float, dx: float):
    """The mirrored ``scene`` at ``rows - dy`` x ``cols + dx`` (Lanczos-3, separable: the
    fraction is the same at every pixel, so are the weights)."""
    taps = 3
    r0, fr = math.floor(rows[0] - dy), (rows[0] - dy) % 1
    c0, fc = math.floor(cols[0] + dx), (cols[0] + dx) % 1
    h, w = len(rows), len(cols)
    patch = scene[
        np.ix_(
            _mirror(np.arange(r0 - taps + 1, r0 + h + taps), scene.shape[0]),
            _mirror(np.arange(c0 - taps + 1, c0 + w + taps), scene.shape[1]),
        )
    ]
    patch = patch.astype(np.float32)
    across = sum(wt * patch[k : k + h] for k, wt in enumerate(_lanczos(fr, taps)))
    return sum(wt * across[:, k : k + w] for k, wt in enumerate(_lanczos(fc, taps)))


def _date_block(
    scene: np.ndarray, date: int, size: int, bright: float, block_info: dict | None = None
) -> np.ndarray:
    """One block of a date: the scene under its shift, under its clouds (date -1: the clear
    reference)."""
    (r0, r1), (c0, c1) = block_info[None]["array-location"]
    rows, cols = np.arange(r0, r1, dtype=float), np.arange(c0, c1, dtype=float)
    if date < 0:
        return scene[np.ix_(_mirror(rows.astype(int), scene.shape[0]),
                            _mirror(cols.astype(int), scene.shape[1]))]  # fmt: skip
    dx, dy = known_shift(date)
    # the date's pixel at map point p shows the ground the reference shows at p + shift
    ground = _shifted(scene, rows, cols, dy, dx)
    cover = cloud_cover(date)
    if cover > 0:
        field = _coarse_field(size, date)
        cut = float(np.quantile(field, 1 - cover))
        noise = _bilinear(field, rows / CLOUD_CELL, cols / CLOUD_CELL)
        slope = 1.0 / CLOUD_CELL  # unit-std noise changes by about this much a pixel
        opacity = np.clip((noise - cut) / (slope * SOFT_EDGE) + 0.5, 0, 1)
        ground = ground * (1 - opacity) + bright * opacity
    return np.clip(np.round(ground), 1, 65535).astype(np.uint16)


def make_cube(size: int, dates: int, folder: Path) -> tuple[list[Path], Path]:
    """The date GeoTIFFs and the reference, written into ``folder`` unless already there."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / "cube.json"
    wanted = {"size": size, "dates": dates, "version": 2}
    paths = [folder / f"date_{i:02d}.tif" for i in range(dates)]
    reference = folder / "reference.tif"
    if manifest.exists() and json.loads(manifest.read_text()) == wanted:
        return paths, reference
    scene = rioxarray.open_rasterio(SCENE).values[0]
    bright = float(np.percentile(scene, 99.9)) * 1.6
    grid = GeoBox((size, size), Affine(RES, 0, ORIGIN[0], 0, -RES, ORIGIN[1]), "EPSG:32616")
    coords = xr_coords(grid, dims=("y", "x"))
    chunks = ((BLOCK,) * (size // BLOCK), (BLOCK,) * (size // BLOCK))
    for i, path in [(-1, reference), *enumerate(paths)]:
        data = dsa.map_blocks(_date_block, scene, i, size, bright, chunks=chunks,
                              dtype=np.uint16, meta=np.array((), np.uint16))  # fmt: skip
        da = xr.DataArray(data, dims=("y", "x"), coords=coords).rio.write_crs(grid.crs)
        xr_coregix.write_geotiff(da.rio.write_nodata(0), path)
    manifest.write_text(json.dumps(wanted))
    return paths, reference


@dask.delayed
def write_date(date: xr.DataArray, fit: xr_coregix.RigidTransform | None, path: Path) -> str:
    """One date aligned onto the reference grid and written as a COG ("" without a fit)."""
    if fit is None:
        return ""
    return str(xr_coregix.write_geotiff(xr_coregix.apply(date, fit, grid="reference"), path,
                                        cog=True))  # fmt: skip


def _usage() -> tuple[float, float]:
    """This process's peak RSS (MB) and CPU seconds."""
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_maxrss / 1024, use.ru_utime + use.ru_stime


def _busy_cpu_s() -> float:
    """CPU seconds the whole machine has been busy (Linux ``/proc/stat``; NaN elsewhere)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return math.nan
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def run(paths: list[Path], reference: Path, workers: int, out: Path) -> dict:
    """Register, apply and write the dates on a fresh LocalCluster of ``workers`` processes."""
    from distributed import Client, LocalCluster

    out.mkdir(parents=True, exist_ok=True)
    with (
        LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                     dashboard_address=None, memory_limit=0) as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        t0, busy0, own0 = time.perf_counter(), _busy_cpu_s(), _usage()[1]
        dates = [xr_coregix.open_raster(p, "date", chunks=BLOCK).squeeze("band", drop=True)
                 for p in paths]  # fmt: skip
        times = pd.date_range("2024-01-01", periods=len(paths), freq="7D")
        cube = xr.concat(dates, dim="time").assign_coords(time=times)
        fixed = xr_coregix.open_raster(reference, "reference", chunks=BLOCK)
        fits = cube.coreg.register(fixed, compute=False)
        writes = [write_date(cube.isel(time=i), fits[i], out / f"aligned_{i:02d}.tif")
                  for i in range(len(paths))]  # fmt: skip
        series, *written = dask.compute(fits, *writes)
        wall = time.perf_counter() - t0
        usage = client.run(_usage)
        where = set(client.run(lambda: xr_coregix.__file__).values())
        busy = _busy_cpu_s() - busy0 - (_usage()[1] - own0)
    errors = []
    for i, fit in enumerate(series):
        if fit is not None:
            dx, dy = known_shift(i)
            sx, sy = fit.shift_in_pixels(RES)
            errors.append(math.hypot(sx - dx, sy - dy))
    for path in written:
        if path:
            Path(path).unlink()
    return {
        "dates": len(paths),
        "workers": workers,
        "wall_s": wall,
        "rss_mb": sorted(rss for rss, _ in usage.values()),
        "cpu_s": sum(cpu for _, cpu in usage.values()),
        # CPU seconds of everything else on the machine during the run (other users' jobs)
        "others_cpu_s": busy - sum(cpu for _, cpu in usage.values()),
        "max_error_px": max(errors) if errors else math.nan,
        "failed": len(series.failed),
        "written": sum(bool(p) for p in written),
        "xr_coregix": sorted(where),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096, help="pixels a side, multiple of 1024")
    parser.add_argument("--dates", type=int, nargs="+", default=[24, 12])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=2, help="alternating rounds")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--gdal-cache", type=int, default=64, help="GDAL_CACHEMAX, MB")
    args = parser.parse_args()
    os.environ["GDAL_CACHEMAX"] = str(args.gdal_cache)  # inherited by the worker processes
    workdir = args.workdir or Path(tempfile.gettempdir()) / "xr-coregix-cube-bench"
    most = max(args.dates)
    t0 = time.perf_counter()
    paths, reference = make_cube(args.size, most, workdir / f"cube-{args.size}")
    print(f"cube: {most} dates of {args.size}^2 uint16 in {paths[0].parent} "
          f"(made or found in {time.perf_counter() - t0:.1f} s); {os.cpu_count()} cores; "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    plan = [(most, w) for _ in range(args.repeats) for w in args.workers]
    plan += [(d, w) for d in sorted(set(args.dates) - {most}, reverse=True) for w in args.workers]
    print(f"{'dates':>5}{'workers':>8}{'wall s':>9}{'s/date':>8}{'worker cpu s':>13}"
          f"{'peak RSS/worker MB':>20}{'max err px':>11}{'failed':>7}{'others cpu s':>13}")  # fmt: skip
    results = []
    for dates, workers in plan:
        fig = run(paths[:dates], reference, workers, workdir / "out")
        results.append(fig)
        rss = " ".join(f"{v:.0f}" for v in fig["rss_mb"])
        print(f"{dates:>5}{workers:>8}{fig['wall_s']:9.1f}{fig['wall_s'] / dates:8.2f}"
              f"{fig['cpu_s']:13.1f}{rss:>20}{fig['max_error_px']:11.3f}{fig['failed']:>7}"
              f"{fig['others_cpu_s']:13.1f}", flush=True)  # fmt: skip
    wall = {w: statistics.median(r["wall_s"] for r in results
                                 if r["workers"] == w and r["dates"] == most)
            for w in args.workers}  # fmt: skip
    if 1 in wall and 2 in wall:
        print(
            f"{most} dates: 2 workers take {wall[2] / wall[1]:.2f} x the time of 1 "
            "(median of the alternating runs; target <= 0.6)"
        )
    for w in args.workers:
        peaks = {r["dates"]: max(r["rss_mb"]) for r in results if r["workers"] == w}
        print(
            f"{w} worker(s): peak RSS per worker by dates "
            + ", ".join(f"{d}: {v:.0f} MB" for d, v in sorted(peaks.items()))
        )
    print(
        f"python {sys.version.split()[0]}, dask {dask.__version__}, "
        f"GDAL_CACHEMAX={args.gdal_cache} MB, workers' xr_coregix: {results[-1]['xr_coregix']}"
    )


if __name__ == "__main__":
    main()
