"""Large synthetic pairs for the scale benchmarks, from real imagery, with an exact truth.

The fixed raster is the Landsat 8 pan band of ``shared/data`` (or the shipped test crop),
mirrored to fill ``size x size`` pixels at 15 m, written block by block. The moving raster has
the same pixels under a georeference shifted by a known sub-pixel amount, so the truth is
exact and making it costs no resampling. With ``degrees``, the moving pixels are also rotated
by that angle about the scene centre, by GDAL (``rasterio.warp.reproject``, cubic: not our
own warp), in memory: for sizes up to about 8192.
"""

from __future__ import annotations

import math
from pathlib import Path

import dask.array as dsa
import numpy as np
import rasterio.warp
import rioxarray
import xarray as xr
from affine import Affine
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords

import xr_coregix

ROOT = Path(__file__).resolve().parents[1]
SCENE = ROOT.parent / "shared" / "data" / "landsat8" / "l8_B8.tif"
SHIFT_PX = (3.37, -2.71)  # the moving georeference is off by this many pixels (x east, y north)


def _scene() -> np.ndarray:
    path = SCENE if SCENE.exists() else ROOT / "tests" / "data" / "crop_B8.tif"
    return rioxarray.open_rasterio(path).values[0]


def mirror(n: int, size: int) -> np.ndarray:
    """Indices 0..size-1 folded back and forth onto 0..n-1."""
    period = np.arange(size) % (2 * n)
    return np.where(period < n, period, 2 * n - 1 - period)


def _block(scene: np.ndarray, block_info: dict | None = None) -> np.ndarray:
    (r0, r1), (c0, c1) = block_info[None]["array-location"]
    rows = mirror(scene.shape[0], r1)[r0:r1]
    cols = mirror(scene.shape[1], c1)[c0:c1]
    return scene[np.ix_(rows, cols)]


def make_pair(
    size: int, folder: Path, degrees: float = 0.0
) -> tuple[Path, Path, xr_coregix.RigidTransform]:
    """Write ``moving.tif`` and ``fixed.tif`` of ``size x size`` uint16 pixels into ``folder``.

    Returns their paths and the true fit (moving georeference to the fixed frame).
    """
    scene = _scene()
    grid = GeoBox((size, size), Affine(15, 0, 400000, 0, -15, 3600000), "EPSG:32616")
    data = dsa.map_blocks(
        _block, scene, chunks=((1024,) * (size // 1024), (1024,) * (size // 1024)),
        dtype=np.uint16, meta=np.array((), np.uint16),
    )  # fmt: skip
    fixed = xr.DataArray(data, dims=("y", "x"), coords=xr_coords(grid, dims=("y", "x")))
    dx, dy = SHIFT_PX[0] * 15, SHIFT_PX[1] * 15
    moving_grid = GeoBox(grid.shape, Affine.translation(dx, dy) @ grid.affine, grid.crs)
    rotation = xr_coregix.RigidTransform(math.radians(degrees), (0.0, 0.0), _centre(grid), grid.crs)
    if degrees:  # the ground the moving georeference shows at p lies at rotation(p)
        pixels = np.zeros(grid.shape, np.uint16)
        rasterio.warp.reproject(
            np.asarray(fixed.values), pixels, src_transform=grid.affine, src_crs=grid.crs,
            dst_transform=rotation.affine @ grid.affine, dst_crs=grid.crs, src_nodata=0,
            dst_nodata=0, resampling=rasterio.warp.Resampling.cubic, num_threads=2,
        )  # fmt: skip
        fixed_pixels = fixed
        fixed = fixed.copy(data=pixels)
    moving = fixed.assign_coords(xr_coords(moving_grid, dims=("y", "x")))
    if degrees:
        fixed = fixed_pixels
    paths = folder / "moving.tif", folder / "fixed.tif"
    xr_coregix.write_geotiff(moving.rio.write_nodata(0), paths[0])
    xr_coregix.write_geotiff(fixed.rio.write_nodata(0), paths[1])
    # the moving raster claims its pixels lie (dx, dy) away from where they are
    shift = xr_coregix.RigidTransform(0.0, (-dx, -dy), crs=grid.crs)
    truth = rotation.compose(shift) if degrees else shift
    return paths[0], paths[1], truth


def _centre(grid: GeoBox) -> tuple[float, float]:
    return tuple(grid.affine @ (grid.shape[1] / 2, grid.shape[0] / 2))
