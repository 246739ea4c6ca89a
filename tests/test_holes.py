"""Scattered invalid pixels cost next to nothing: no stencil and no interpolation sees a hole."""

import numpy as np
import pytest
from synthetic import misregister

import xr_coregix
from xr_coregix import displacement_error
from xr_coregix.core.fill import fill_invalid


@pytest.fixture(scope="module")
def moving(b4, grid, truth):
    return misregister(b4, truth, grid)


def _holes(da, share, seed, fill=np.nan):
    rng = np.random.default_rng(seed)
    values = np.asarray(da.values, dtype=np.float32).copy()
    values[rng.random(values.shape) < share] = fill
    return da.astype(np.float32).copy(data=values)


@pytest.mark.parametrize("edge_proxy", [True, False])
def test_a_quarter_of_scattered_nan_costs_at_most_two_hundredths(
    moving, fixed, grid, truth, edge_proxy
):
    clean = xr_coregix.register(moving, fixed, edge_proxy=edge_proxy)
    holed = xr_coregix.register(
        _holes(moving, 0.25, 1), _holes(fixed, 0.25, 2), edge_proxy=edge_proxy
    )
    base = displacement_error(clean, truth, grid)[0]
    assert displacement_error(holed, truth, grid)[0] < base + 0.02
    assert 0.5 < holed.diagnostics.valid_fraction < 0.6  # 0.75 squared: holes only, no more


@pytest.mark.parametrize("share", [0.02, 0.1])
def test_uint16_nodata_holes(moving, fixed, grid, truth, share):
    values = np.round(np.nan_to_num(moving.values, nan=0)).astype(np.uint16)
    values[np.random.default_rng(3).random(values.shape) < share] = 0
    holed = moving.copy(data=values).rio.write_nodata(0)
    fit = xr_coregix.register(holed, fixed)
    assert displacement_error(fit, truth, grid)[0] < 0.015


def test_a_nodata_value_that_is_also_a_frequent_valid_level(moving, fixed, grid, truth):
    """A declared nodata that valid pixels also take (the most common level of the band): those
    pixels drop out as scattered holes, nothing worse."""
    values = np.round(np.nan_to_num(moving.values, nan=0)).astype(np.uint16)
    levels, counts = np.unique(values[values > 0], return_counts=True)
    common = int(levels[np.argmax(counts)])
    fit = xr_coregix.register(moving.copy(data=values).rio.write_nodata(common), fixed)
    assert displacement_error(fit, truth, grid)[0] < 0.02


def test_raw_values_with_a_nan_pixel(moving, fixed, grid, truth):
    """Raw values (no edge proxy) with NaN: the NaN never reaches ITK."""
    holed = moving.copy(data=moving.values.copy())
    holed[100, 100] = np.nan
    fit = xr_coregix.register(holed, fixed, edge_proxy=False)
    assert displacement_error(fit, truth, grid)[0] < 0.02


def test_fill_takes_the_neighbours_mean_and_leaves_valid_pixels():
    values = np.arange(25, dtype=np.float64).reshape(5, 5)
    valid = np.ones((5, 5), bool)
    valid[2, 2] = False
    valid[:, 4] = False  # a column: its second ring is filled from the first
    filled = fill_invalid(np.where(valid, values, np.nan), valid)
    assert filled.dtype == np.float32
    np.testing.assert_array_equal(filled[valid], values[valid])
    assert filled[2, 2] == np.mean([6, 7, 8, 11, 13, 16, 17, 18])
    assert np.isfinite(filled).all()
