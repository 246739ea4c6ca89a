"""Datacubes: every time slice registered against one reference, and warped with its fit."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from synthetic import misregister, rigid

import xr_coregix
from xr_coregix import BandSelectionError, TransformSeries, displacement_error

TRUTHS = [(0.4, -0.3, 0.0), (2.2, 1.1, 0.5), (-1.7, 3.0, -0.4)]
DATES = pd.to_datetime(["2024-03-01", "2024-04-01", "2024-05-01"])


@pytest.fixture(scope="module")
def cube(b4, fixed):
    """(time, y, x) as odc.stac.load makes it, one known misregistration per date; the last
    date is all cloud (NaN)."""
    grid = fixed.odc.geobox
    slices = [misregister(b4, rigid(*t, grid), grid) for t in TRUTHS]
    slices.append(slices[0] * np.nan)
    dates = DATES.append(pd.to_datetime(["2024-06-01"]))
    return xr.concat(slices, dim="time").assign_coords(time=dates)


def test_each_slice_gets_its_own_fit(cube, fixed):
    series = cube.coreg.register(fixed)
    assert isinstance(series, TransformSeries) and len(series) == 4
    grid = fixed.odc.geobox
    for fit, truth in zip(series, TRUTHS, strict=False):
        assert displacement_error(fit, rigid(*truth, grid), grid)[0] < 0.02
    assert series.sel(time="2024-04-01") is series[1]
    assert series[3] is None and "only 0.00%" in series.errors[3]
    assert series.failed == [pd.Timestamp("2024-06-01")]


def test_series_as_a_dataset_of_parameters(cube, fixed):
    table = xr_coregix.register(cube, fixed).to_dataset()
    np.testing.assert_array_equal(table.time.values, cube.time.values)
    np.testing.assert_allclose(table["shift_x_px"].values[:3], [t[0] for t in TRUTHS], atol=0.03)
    np.testing.assert_allclose(table["rotation_deg"].values[:3], [t[2] for t in TRUTHS], atol=0.01)
    assert np.isnan(table["tx"].values[3])


def test_apply_warps_each_slice_with_its_fit_lazily(cube, fixed):
    series = xr_coregix.register(cube, fixed)
    aligned = xr_coregix.apply(cube.chunk({"time": 1}), series, grid="reference")
    assert aligned.chunks is not None and aligned.sizes["time"] == 4
    values = aligned.compute()
    inner = (slice(0, 3), slice(20, -20), slice(20, -20))
    reference = np.broadcast_to(fixed.values[0].astype(float), values.shape[1:])
    error = np.abs(values.values[inner] - reference[None, 20:-20, 20:-20])
    assert np.nanmedian(error) < 0.05 * float(fixed.std())  # every slice now lines up
    assert np.isnan(values.values[3]).all()  # the slice without a fit is nodata


def test_fixed_with_a_time_dim_is_refused(cube):
    with pytest.raises(BandSelectionError, match=r"fixed\.isel\(time=0\)"):
        xr_coregix.register(cube, cube)
