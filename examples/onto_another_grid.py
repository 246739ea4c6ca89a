"""Align a cube of one sensor onto another sensor's grid: a 15 m pan cube onto a 30 m grid.

The moving cube is the bundled Landsat 8 panchromatic band (``tests/data/scene_B8.tif``, 15 m),
four dates, each under a known shift (the first one untouched). The reference is the red band
of the same scene at 30 m (``scene_B4.tif``), its clouds masked with its quality band. Every
date is registered against the reference (the solve runs on the reference's 30 m grid, the pan
band block-averaged onto it) and ``apply(grid="reference")`` resamples each date onto the 30 m
grid with its own fit.

Two bands of one scene are not perfectly aligned with each other (cloud parallax between the
band exposures; ``shared/data/README.md``), so the untouched date's fit is that offset, and each
date's fit composed with its inverse must give the known shift. Residuals printed: that
difference, and the shift left in each aligned date (registered again against the reference).

Run: ``python examples/onto_another_grid.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import rioxarray
import xarray as xr

import xr_coregix

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
SHIFTS = [(0.0, 0.0), (1.3, -0.8), (-2.1, 0.6), (0.7, 2.4)]  # 30 m pixels, x east, y north
DAYS = pd.to_datetime(
    ["2024-05-02T16:30", "2024-06-03T16:30", "2024-07-05T16:31", "2024-08-06T16:31"]
)


def main() -> None:
    pan = rioxarray.open_rasterio(DATA / "scene_B8.tif").squeeze("band", drop=True)
    red = rioxarray.open_rasterio(DATA / "scene_B4.tif")
    clouds = xr_coregix.landsat_qa_mask(
        rioxarray.open_rasterio(DATA / "scene_BQA.tif"), layout="pre-collection"
    )
    grid = red.odc.geobox  # the 30 m reference grid
    center = grid.affine @ (grid.shape[1] / 2, grid.shape[0] / 2)
    truths = [
        xr_coregix.RigidTransform(0.0, (dx * 30.0, dy * 30.0), center, grid.crs)
        for dx, dy in SHIFTS
    ]
    # each date's georeference is off by its truth (made on the pan band's own 15 m grid)
    dates = [xr_coregix.apply(pan, t.inverse(), resampling="lanczos") for t in truths]
    cube = xr.concat(dates, dim="time").assign_coords(time=DAYS).chunk({"time": 1})
    print(f"moving: {dict(cube.sizes)} at {cube.rio.resolution()[0]:g} m")
    print(f"reference: {dict(red.sizes)} at {red.rio.resolution()[0]:g} m")

    series = cube.coreg.register(red, fixed_mask=clouds)  # one fit per date, as dask tasks
    aligned = cube.coreg.apply(grid="reference")  # lazy: each date onto the 30 m grid
    print(f"aligned: {dict(aligned.sizes)} at {aligned.rio.resolution()[0]:g} m, "
          f"on the reference grid: {aligned.odc.geobox == grid}")  # fmt: skip

    # residuals: each fit composed with the inverse of the untouched date's fit (the offset
    # between the two bands) against the known shift; and the shift left after alignment
    offset = np.linalg.inv(series[0].matrix)
    again = xr_coregix.register(aligned.compute(), red, fixed_mask=clouds)
    rows = []
    for day, fit, truth, left in zip(DAYS, series, truths, again, strict=True):
        differential = xr_coregix.RigidTransform.from_matrix(offset @ fit.matrix, center, grid.crs)
        error, _ = xr_coregix.displacement_error(differential, truth, grid)
        fit_x, fit_y = fit.shift_in_pixels(30.0)  # x east, y north
        known_x, known_y = truth.shift_in_pixels(30.0)
        rows.append({
            "time": day, "fit_x_px": fit_x, "fit_y_px": fit_y, "known_x_px": known_x,
            "known_y_px": known_y, "residual_px": error,
            "left_after_px": float(np.hypot(*left.shift_in_pixels(30.0))),
        })  # fmt: skip
    table = pd.DataFrame(rows).set_index("time")
    print(f"offset between the bands (untouched date): {series[0]}")
    print(table.round(3).to_string())
    summary = {
        "dates": len(table),
        "max_residual_px": round(float(table["residual_px"].max()), 4),
        "max_left_after_px": round(float(table["left_after_px"].max()), 4),
    }
    print("summary:", json.dumps(summary))


if __name__ == "__main__":
    main()
