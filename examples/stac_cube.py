"""A datacube from a STAC ItemCollection: load, register every date with its quality mask,
apply and write a COG per date, as one dask graph, offline.

From the bundled Landsat 8 scene (``tests/data/scene_B4.tif``, red, and ``scene_BQA.tif``, its
pre-collection quality band), six dates are written as GeoTIFFs, each carrying a known shift and
clouds of its own (flagged in its quality band; the last date is overcast). A STAC
ItemCollection describes them (projection and raster extensions), ``odc.stac.load`` reads them
into a ``(time, y, x)`` cube, and xr_coregix registers every date against the reference scene,
masking the clouds both quality bands flag. The fits are lazy (``compute=False``): each date's
apply-and-write task depends on its own fit only, and one ``dask.compute`` runs the whole
pipeline (on a ``dask.distributed`` client when one is active). The per-date fit table is then
checked against the known shifts.

Run: ``python examples/stac_cube.py [FOLDER] [--plot shifts.png]`` (FOLDER: where the items,
the inputs and the aligned COGs go; default a temporary folder).
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path

import dask
import numpy as np
import odc.stac
import pandas as pd
import pystac
import rasterio
import rioxarray
import xarray as xr
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import DataType, RasterBand, RasterExtension

import xr_coregix

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
# acquisition time (UTC), known shift (reference pixels: x east, y north), cloud cover
DATES = [
    ("2024-04-14T16:31:07", 0.35, -0.20, 0.00),
    ("2024-05-16T16:31:12", 1.60, 0.75, 0.10),
    ("2024-06-17T16:31:20", -0.90, 2.10, 0.25),
    ("2024-07-19T16:31:25", 2.40, -1.30, 0.40),
    ("2024-08-20T16:31:31", -1.75, -0.60, 0.15),
    ("2024-09-21T16:31:38", 0.80, 1.40, 1.00),  # overcast: no fit
]
TOLERANCE_PX = 0.05
CLOUD_BITS = 0b11 << 14  # pre-collection BQA: cloud confidence high
FILL = 1  # pre-collection BQA: designated fill


def clouds(shape: tuple[int, int], cover: float, seed: int) -> np.ndarray:
    """Soft-edged round clouds (opacity 0..1) over about ``cover`` of the scene."""
    opacity = np.zeros(shape, np.float32)
    if cover >= 1:
        return opacity + 1
    rng = np.random.default_rng(seed)
    rows, cols = np.indices(shape)
    while np.mean(opacity > 0.5) < cover:
        r, c = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        radius = rng.uniform(12, 45)
        blob = np.clip((radius - np.hypot(rows - r, cols - c)) / 4 + 0.5, 0, 1)
        opacity = np.maximum(opacity, blob)
    return opacity


def write_dates(folder: Path) -> tuple[list[pystac.Item], Path, Path]:
    """Each date's red band and quality band as GeoTIFFs, a STAC item for each, and the
    reference's red and quality bands."""
    red = rioxarray.open_rasterio(DATA / "scene_B4.tif")
    qa = rioxarray.open_rasterio(DATA / "scene_BQA.tif")
    grid = red.odc.geobox
    center = grid.affine @ (grid.shape[1] / 2, grid.shape[0] / 2)
    bright = float(np.percentile(red.values, 99.9)) * 1.6
    footprint = grid.extent.to_crs("EPSG:4326")
    items = []
    for seed, (when, dx, dy, cover) in enumerate(DATES):
        truth = xr_coregix.RigidTransform(0.0, (dx * 30.0, dy * 30.0), center, grid.crs)
        # the date's georeference is off by `truth`: its pixels show the ground `truth` maps to
        moved = xr_coregix.apply(red, truth.inverse(), resampling="lanczos")
        moved_qa = xr_coregix.apply(qa, truth.inverse(), resampling="nearest", output_nodata=FILL)
        opacity = clouds(grid.shape, cover, seed)
        values = moved.values[0].astype(np.float32)
        cloudy = np.where(values > 0, values * (1 - opacity) + bright * opacity, 0)
        moved = moved.copy(data=np.round(cloudy)[None].astype(np.uint16))
        moved_qa = moved_qa.copy(data=moved_qa.values | np.where(opacity > 0.5, CLOUD_BITS, 0))
        day = pd.Timestamp(when)
        paths = {
            "red": folder / f"LC08_{day:%Y%m%d}_B4.tif",
            "qa": folder / f"LC08_{day:%Y%m%d}_BQA.tif",
        }
        xr_coregix.write_geotiff(moved, paths["red"])
        xr_coregix.write_geotiff(moved_qa.astype(np.uint16), paths["qa"])
        item = pystac.Item(
            id=f"LC08_{day:%Y%m%d}",
            geometry=footprint.json,
            bbox=list(footprint.boundingbox),
            datetime=day.to_pydatetime().replace(tzinfo=None),
            properties={"xr_coregix:known_shift_px": [dx, dy]},
        )
        proj = ProjectionExtension.ext(item, add_if_missing=True)
        proj.epsg = grid.crs.epsg
        proj.shape = list(grid.shape)
        proj.transform = list(grid.affine)[:6]
        for band, nodata in (("red", 0), ("qa", FILL)):
            asset = pystac.Asset(str(paths[band]), media_type=pystac.MediaType.GEOTIFF,
                                 roles=["data"])  # fmt: skip
            item.add_asset(band, asset)
            raster = RasterExtension.ext(asset, add_if_missing=True)
            raster.bands = [RasterBand.create(nodata=nodata, data_type=DataType.UINT16)]
        items.append(item)
    reference, reference_qa = folder / "reference_B4.tif", folder / "reference_BQA.tif"
    xr_coregix.write_geotiff(red, reference)
    xr_coregix.write_geotiff(qa, reference_qa)
    return items, reference, reference_qa


@dask.delayed
def write_date(date: xr.DataArray, fit: xr_coregix.RigidTransform | None, path: Path) -> str:
    """One date aligned onto the reference grid and written as a COG ("" without a fit)."""
    if fit is None:
        return ""
    aligned = xr_coregix.apply(date, fit, grid="reference")
    return str(xr_coregix.write_geotiff(aligned, path, cog=True))


def plot_shifts(table: pd.DataFrame, path: Path) -> None:
    """The recovered shifts over time against the known ones (failed dates marked)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.2, 2.8), dpi=100, layout="constrained")
    days = table.index
    for axis, color in (("x", "tab:blue"), ("y", "tab:orange")):
        ax.plot(days, table[f"shift_{axis}_px"], "o-", color=color, label=f"fit, {axis}")
        ax.plot(days, table[f"known_{axis}_px"], "s", mfc="none", ms=9, color=color,
                label=f"known, {axis}")  # fmt: skip
    for day in days[~table["reliable"]]:
        ax.axvline(day, color="0.6", ls=":", lw=1)
        ax.annotate("no fit (cloud)", (day, ax.get_ylim()[0]), rotation=90, va="bottom",
                    ha="right", fontsize=8, color="0.4")  # fmt: skip
    ax.axhline(0, color="0.8", lw=0.8)
    ax.set_ylabel("shift (reference pixels)")
    ax.set_title("Per-date shifts: x east, y north", fontsize=10)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.autofmt_xdate()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, help="output folder (default: temporary)")
    parser.add_argument("--plot", type=Path, help="write a figure of the shifts over time")
    args = parser.parse_args()
    folder = args.folder or Path(tempfile.mkdtemp(prefix="stac-cube-"))
    folder.mkdir(parents=True, exist_ok=True)

    items, reference_path, reference_qa_path = write_dates(folder)
    collection = pystac.ItemCollection(items)
    collection.save_object(dest_href=str(folder / "items.json"))
    print(f"{len(collection)} STAC items in {folder / 'items.json'}")

    # --- load: a Dataset of (time, y, x) bands, dask-backed, on the items' own grid
    cube = odc.stac.load(collection, bands=["red", "qa"], chunks={"x": 320, "y": 320})
    nodata = cube.red.attrs.get("nodata")
    print(f"cube: {dict(cube.sizes)}, EPSG:{cube.odc.crs.epsg}, red nodata {nodata}")
    reference = rioxarray.open_rasterio(reference_path)
    reference_mask = xr_coregix.landsat_qa_mask(
        rioxarray.open_rasterio(reference_qa_path), layout="pre-collection"
    )
    masks = xr_coregix.landsat_qa_mask(cube.qa, layout="pre-collection")  # (time, y, x), lazy

    # --- register (lazily), apply and write: one graph, one task a date for the fits
    fits = cube.coreg.register(
        reference, moving_band="red", moving_mask=masks, fixed_mask=reference_mask, compute=False
    )
    writes = [
        write_date(cube.red.isel(time=i), fits[i], folder / f"aligned_{day:%Y%m%d}.tif")
        for i, day in enumerate(pd.DatetimeIndex(cube.time.values))
    ]
    series, *written = dask.compute(fits, *writes)

    # --- the per-date fit table, against the known shifts
    table = series.to_dataframe()
    known = np.array([(dx, dy) for _, dx, dy, _ in DATES])
    table["known_x_px"], table["known_y_px"] = known[:, 0], known[:, 1]
    table["error_px"] = np.hypot(
        table["shift_x_px"] - table["known_x_px"], table["shift_y_px"] - table["known_y_px"]
    )
    columns = ["shift_x_px", "shift_y_px", "known_x_px", "known_y_px", "error_px",
               "valid_fraction", "reliable"]  # fmt: skip
    with pd.option_context("display.width", 120):
        print(table[columns].round(3).to_string())
    for day, reason in table["reason"][table["reason"] != ""].items():
        print(f"{day:%Y-%m-%d}: no fit, {reason.split(':')[0]}")

    done = [Path(p) for p in written if p]
    for path in done:
        with rasterio.open(path) as ds:
            layout = ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT")
            same_grid = ds.transform == reference.rio.transform()
        print(f"{path.name}: layout {layout}, on the reference grid: {same_grid}")
    registered = table[table["reliable"]]
    summary = {
        "dates": len(table),
        "registered": len(registered),
        "failed": [f"{d:%Y-%m-%d}" for d in series.failed],
        "max_error_px": round(float(registered["error_px"].max()), 4),
        "written": len(done),
    }
    print("summary:", json.dumps(summary))
    if args.plot:
        plot_shifts(table, args.plot)
        print(f"figure: {args.plot}")
    if summary["max_error_px"] > TOLERANCE_PX or not math.isfinite(summary["max_error_px"]):
        raise SystemExit(f"a recovered shift is off by more than {TOLERANCE_PX} px")


if __name__ == "__main__":
    main()
