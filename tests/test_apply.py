"""apply: grids, nodata, dtype and laziness (DESIGN.md section 4)."""

import dask.array as dsa
import numpy as np
import pytest
import xarray as xr
from affine import Affine
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords

import xr_coregix
from xr_coregix import RigidTransform

GRID = GeoBox((40, 50), Affine(10, 0, 1000, 0, -10, 2000), "EPSG:32616")
REFERENCE = GeoBox((30, 30), Affine(10, 0, 1100, 0, -10, 1900), "EPSG:32616")


def raster(values, grid=GRID, nodata=None, dims=("y", "x")):
    da = xr.DataArray(values, dims=dims, coords=xr_coords(grid, dims=dims[-2:]))
    return da if nodata is None else da.rio.write_nodata(nodata)


def fit_by(dx, dy, *, reference_nodata=None):
    """A translation by whole pixels, recording REFERENCE as the reference grid."""
    diag = xr_coregix.Diagnostics(-0.1, -0.5, 1.0, (10.0, 10.0), (30, 30), 10.0, True)
    return RigidTransform(
        0.0,
        (dx * 10.0, dy * 10.0),
        crs="EPSG:32616",
        diagnostics=diag,
        reference_geobox=REFERENCE,
        reference_nodata=reference_nodata,
    )


def test_integer_translation_moves_values_by_whole_pixels():
    values = np.arange(2000, dtype=np.uint16).reshape(40, 50) + 1
    out = xr_coregix.apply(raster(values, nodata=0), fit_by(2, 0), resampling="nearest")
    # corrected georeference is 2 px east: source pixel c now shows at c + 2
    np.testing.assert_array_equal(out.values[:, 2:], values[:, :-2])
    assert (out.values[:, :2] == 0).all()
    assert int((out.values == 0).sum()) == 2 * 40  # exactly the uncovered columns


def test_samples_from_invalid_source_become_nodata_exactly():
    values = np.full((40, 50), 100.0, dtype=np.float32)
    values[10:20, 10:20] = -9999
    out = xr_coregix.apply(raster(values, nodata=-9999), fit_by(0, 0), resampling="nearest")
    assert int((out.values == -9999).sum()) == 100
    assert out.rio.nodata == -9999


@pytest.mark.parametrize(
    "source,explicit,reference,expected",
    [(7, 9, 5, 9), (7, None, 5, 7), (None, None, 5, 5), (None, None, None, 0)],
)
def test_output_nodata_precedence(source, explicit, reference, expected):
    da = raster(np.ones((40, 50), np.int16), nodata=source)
    out = xr_coregix.apply(da, fit_by(1, 0, reference_nodata=reference), output_nodata=explicit)
    assert out.rio.nodata == expected
    assert int((out.values == expected).sum()) == 40  # the uncovered column


def test_integer_dtype_is_kept_rounded_and_clipped():
    values = np.tile(np.array([0, 255], dtype=np.uint8), (40, 25))
    out = xr_coregix.apply(raster(values, nodata=None), fit_by(0.5, 0), output_nodata=1)
    assert out.dtype == np.uint8
    inner = out.values[:, 2:-2]
    assert set(np.unique(inner)) <= {127, 128}  # half of 255, rounded, within range


def test_reference_grid_is_exactly_the_reference():
    out = xr_coregix.apply(
        raster(np.ones((40, 50), np.float32)), fit_by(0.3, -0.2), grid="reference"
    )
    assert out.odc.geobox == REFERENCE
    np.testing.assert_array_equal(out.x.values, REFERENCE.coords["x"].values)


def test_extra_dims_are_all_warped():
    values = np.stack([np.full((40, 50), t, np.float32) for t in (1, 2, 3)])
    da = raster(values, dims=("time", "y", "x")).assign_coords(time=[10, 20, 30])
    da.attrs["units"] = "DN"
    out = xr_coregix.apply(da, fit_by(1, 0), grid="source", output_nodata=-1)
    assert out.dims == da.dims and out.attrs["units"] == "DN"
    np.testing.assert_array_equal(out.time.values, [10, 20, 30])
    np.testing.assert_array_equal(out.values[:, :, 5], [[1] * 40, [2] * 40, [3] * 40])


def test_apply_is_lazy_until_computed():
    calls = []

    def counted(block):
        calls.append(block.shape)
        return block

    data = dsa.ones((40, 50), chunks=(20, 25), dtype=np.float32)
    data = data.map_blocks(counted, meta=np.array((), np.float32))
    out = xr_coregix.apply(raster(data), fit_by(0.4, 0.2), grid="reference")
    assert isinstance(out.data, dsa.Array)
    assert calls == []  # nothing read or computed yet
    out.compute()
    assert len(calls) > 0


def test_chunks_argument_makes_numpy_input_lazy():
    out = xr_coregix.apply(raster(np.ones((40, 50))), fit_by(1, 1), chunks=20)
    assert isinstance(out.data, dsa.Array)
