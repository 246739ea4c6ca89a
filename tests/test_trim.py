"""trim_edge_invalid: the invalid exterior widened by a depth, interior holes kept."""

import dask.array as dsa
import numpy as np
import xarray as xr
from affine import Affine
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords

import xr_coregix

GRID = GeoBox((60, 80), Affine(10, 0, 0, 0, -10, 600), "EPSG:32616")


def collar_raster(chunks=None):
    """Valid data framed by a 5-pixel nodata collar, with an interior nodata hole."""
    values = np.full((2, 60, 80), 500, dtype=np.uint16)
    values[:, :5, :] = 0
    values[:, -5:, :] = 0
    values[:, :, :5] = 0
    values[:, :, -5:] = 0
    values[:, 30, 40] = 0  # an interior hole: not connected to the exterior
    values[0, 5, 20] = 3  # an artefact at the collar's edge, below 10
    da = xr.DataArray(values, dims=("band", "y", "x"), coords=xr_coords(GRID, dims=("y", "x")))
    da = da.rio.write_nodata(0)
    return da if chunks is None else da.chunk(chunks)


def test_exterior_widened_by_depth_exact_count():
    out = xr_coregix.trim_edge_invalid(collar_raster(), depth=2)
    # valid core 50 x 70 shrinks by 2 on each side to 46 x 66; the hole stays one pixel
    valid = out.values[0] != 0
    assert int(valid.sum()) == 46 * 66 - 1
    assert out.values[0, 30, 40] == 0 and out.values[0, 30, 41] == 500
    assert (out.values[1] != 0).sum() == valid.sum()  # every band trimmed alike
    assert out.dtype == np.uint16 and out.rio.nodata == 0


def test_threshold_artefacts_count_as_invalid():
    plain = xr_coregix.trim_edge_invalid(collar_raster(), depth=2)
    thresholded = xr_coregix.trim_edge_invalid(collar_raster(), depth=2, invalid_below=10)
    # the artefact at (5, 20) touches the collar: its 5x5 neighbourhood (3 rows inside) goes
    assert int((plain.values[0] != 0).sum() - (thresholded.values[0] != 0).sum()) == 5


def test_lazy_result_equals_eager_result():
    eager = xr_coregix.trim_edge_invalid(collar_raster(), depth=3)
    lazy = xr_coregix.trim_edge_invalid(collar_raster(chunks={"y": 16, "x": 16}), depth=3)
    assert isinstance(lazy.data, dsa.Array)
    np.testing.assert_array_equal(lazy.values, eager.values)
