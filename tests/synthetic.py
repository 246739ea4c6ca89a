"""Test rasters: the shipped real crops, and copies of them under known misregistrations."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import rioxarray
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords
from scipy import ndimage

from xr_coregix import Diagnostics, RigidTransform

DATA = Path(__file__).parent / "data"


def open_crop(band: str) -> xr.DataArray:
    """A shipped crop (``"B4"``, ``"B5"``: 384 x 384 at 30 m; ``"B8"``: 768 x 768 at 15 m)."""
    return rioxarray.open_rasterio(DATA / f"crop_{band}.tif")


def inner(da: xr.DataArray, margin: int) -> xr.DataArray:
    """``da`` without ``margin`` pixels on every side."""
    return da.isel(y=slice(margin, -margin), x=slice(margin, -margin))


def rigid(dx_px: float, dy_px: float, degrees: float, grid: GeoBox) -> RigidTransform:
    """A transform of ``dx_px``/``dy_px`` pixels of ``grid`` (x east, y north) about its centre."""
    res = abs(grid.resolution.x)
    center = grid.affine @ (grid.shape[1] / 2, grid.shape[0] / 2)
    return RigidTransform(math.radians(degrees), (dx_px * res, dy_px * res), center, grid.crs)


def as_solved(fit: RigidTransform) -> RigidTransform:
    """``fit`` with the rotation it left out (``diagnostics.rotation_left_out``) put back, as
    its rigid stage found it: a differential of two fits cancels the bands' own offset only
    when both keep, or both leave out, what the content turned the rigid stage by."""
    left_out = fit.diagnostics.rotation_left_out
    if left_out is None:
        return fit
    return RigidTransform(left_out, (0.0, 0.0), fit.center, fit.crs).compose(fit)


def misregister(
    da: xr.DataArray, truth: RigidTransform, grid: GeoBox, nodata: float | None = None
) -> xr.DataArray:
    """``da`` resampled (cubic spline) onto ``grid`` so that ``truth`` is its misregistration.

    Pixel centre ``p`` of the result holds the ground that ``da`` shows at ``truth(p)``: the
    result's georeference is wrong by ``truth``, and registering it to ``da``'s frame must
    return ``truth``. Samples outside ``da`` become ``nodata`` (NaN when None, as float32).
    """
    src = da.odc.geobox
    rows, cols = np.meshgrid(
        np.arange(grid.shape[0]) + 0.5, np.arange(grid.shape[1]) + 0.5, indexing="ij"
    )
    a = grid.affine
    x, y = truth(a.a * cols + a.b * rows + a.c, a.d * cols + a.e * rows + a.f)
    inv = ~src.affine
    sc = inv.a * x + inv.b * y + inv.c - 0.5
    sr = inv.d * x + inv.e * y + inv.f - 0.5
    values = np.asarray(da.squeeze().values, dtype=np.float64)
    out = ndimage.map_coordinates(values, [sr, sc], order=3, mode="nearest")
    inside = (sr >= 0) & (sc >= 0) & (sr <= values.shape[0] - 1) & (sc <= values.shape[1] - 1)
    fill = np.nan if nodata is None else nodata
    out = np.where(inside, out, fill).astype(np.float32)
    result = xr.DataArray(out, dims=("y", "x"), coords=xr_coords(grid, dims=("y", "x")))
    if nodata is not None:
        result = result.rio.write_nodata(nodata)
    return result


def diagnostics(**changes: object) -> Diagnostics:
    """Diagnostics of a plausible single solve, with ``changes`` to any field."""
    fields = {
        "metric_before": -0.1,
        "metric_after": -0.5,
        "valid_fraction": 0.9,
        "solve_resolution": (30.0, 30.0),
        "solve_shape": (200, 300),
        "pixel_size": 30.0,
        "edge_proxy": True,
    }
    return Diagnostics(**{**fields, **changes})
