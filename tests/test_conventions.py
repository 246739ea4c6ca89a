"""Axis and direction conventions, grids that differ, and apply's georeference."""

import numpy as np
import pytest
import SimpleITK as sitk
from affine import Affine
from odc.geo.geobox import GeoBox
from synthetic import misregister, rigid

import xr_coregix
from xr_coregix import displacement_error


def shifted_content(b4, rows: int, cols: int):
    """B4 values offset by whole pixels, on the grid of the 320 x 320 reference."""
    values = b4.isel(y=slice(32 + rows, 352 + rows), x=slice(32 + cols, 352 + cols)).values
    reference = b4.isel(y=slice(32, 352), x=slice(32, 352))
    return reference.copy(data=values)


def test_content_from_the_east_is_a_positive_x_translation(b4, fixed):
    """moving[:, c] shows the ground of fixed[:, c + 3]: its labels sit 3 px west of their
    ground, so the fit moves them 3 px (90 m) east."""
    fit = xr_coregix.register(shifted_content(b4, 0, 3), fixed)
    assert fit.translation == pytest.approx((90.0, 0.0), abs=0.6)
    assert abs(fit.rotation_degrees) < 0.01
    assert fit.shift_in_pixels(fixed.odc.geobox) == pytest.approx((3.0, 0.0), abs=0.02)


def test_content_from_the_south_is_a_negative_y_translation(b4, fixed):
    """moving[r] shows fixed[r + 2], which lies 60 m south: translation (0, -60)."""
    fit = xr_coregix.register(shifted_content(b4, 2, 0), fixed)
    assert fit.translation == pytest.approx((0.0, -60.0), abs=0.6)
    assert fit.shift_in_pixels(fixed.odc.geobox) == pytest.approx((0.0, 2.0), abs=0.02)


def test_apply_on_the_reference_grid_restores_the_reference(b4, fixed):
    moving = shifted_content(b4, 2, 3)
    fit = moving.coreg.register(fixed)
    aligned = moving.coreg.apply(grid="reference", resampling="nearest")
    assert aligned.rio.transform() == fixed.rio.transform()
    np.testing.assert_array_equal(aligned.x.values, fixed.x.values)
    np.testing.assert_array_equal(aligned.y.values, fixed.y.values)
    # reference pixel (r, c) is moving pixel (r - 2, c - 3): the first rows/columns have no
    # source and are nodata (0: neither raster declares one)
    np.testing.assert_array_equal(aligned.values[0, 2:, 3:], fixed.values[0, 2:, 3:])
    assert (aligned.values[0, :2] == 0).all() and (aligned.values[0, :, :3] == 0).all()
    assert fit.translation == pytest.approx((90.0, -60.0), abs=0.6)


def test_apply_grids_keep_their_georeference(b4, fixed):
    grid = fixed.odc.geobox
    moving = misregister(b4, rigid(1.2, -0.7, 0.3, grid), grid[10:, 20:], nodata=0)
    moving = moving.round().astype("uint16").rio.write_nodata(0)
    fit = moving.coreg.register(fixed)
    source = moving.coreg.apply(grid="source")
    assert source.dims == moving.dims and source.shape == moving.shape
    np.testing.assert_array_equal(source.x.values, moving.x.values)
    assert source.dtype == np.uint16 and source.rio.nodata == 0
    assert source.rio.crs == moving.rio.crs
    native = moving.coreg.apply(grid="native")
    np.testing.assert_array_equal(native.values, moving.values)
    assert native.odc.geobox.affine.almost_equals(fit.affine @ moving.rio.transform(), 1e-9)
    reference = moving.coreg.apply(grid="reference")
    assert reference.odc.geobox == grid


def test_half_pixel_offset_grid_is_not_biased(b4, fixed):
    """The moving grid is offset by half a pixel from the reference's: no resampling of the
    moving band onto the reference grid may shift it by that half pixel."""
    grid = fixed.odc.geobox
    offset = GeoBox(grid.shape, Affine.translation(15, -15) @ grid.affine, grid.crs)
    truth = rigid(0.8, -1.1, 0.2, grid)
    fit = xr_coregix.register(misregister(b4, truth, offset), fixed)
    assert displacement_error(fit, truth, grid)[0] < 0.02


def test_y_ascending_storage_gives_the_same_fit(b4, fixed):
    grid = fixed.odc.geobox
    truth = rigid(-0.9, 2.2, -0.4, grid)
    moving = misregister(b4, truth, grid)
    north_up = xr_coregix.register(moving, fixed)
    south_up = xr_coregix.register(moving.sortby("y"), fixed.sortby("y"))
    assert displacement_error(south_up, north_up, grid)[1] < 0.03  # other sample lattice
    assert displacement_error(south_up, truth, grid)[0] < 0.02


def test_deterministic_across_runs_and_itk_thread_settings(b4, fixed):
    grid = fixed.odc.geobox
    moving = misregister(b4, rigid(1.4, 0.3, 0.5, grid), grid)
    first = xr_coregix.register(moving, fixed)
    saved = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    try:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(2)
        second = xr_coregix.register(moving, fixed)
        assert sitk.ProcessObject.GetGlobalDefaultNumberOfThreads() == 2  # restored
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(saved)
    assert (second.rotation, second.translation) == (first.rotation, first.translation)
    assert second.diagnostics == first.diagnostics


def test_the_two_bands_made_side_by_side_give_the_same_fit(b4, fixed, monkeypatch):
    """A single solve makes its two solve images in two threads: bit for bit the fit (and the
    share kept out as cloud) of one thread, holes and clouds included."""
    from xr_coregix.xr import register as register_module

    grid = fixed.odc.geobox
    moving = misregister(b4, rigid(1.4, 0.3, 0.5, grid), grid).astype(np.float32)
    moving.values[40:90, 60:140] = np.nan  # a hole to fill
    moving.values[150:200, 150:230] *= 3.0  # something bright for the guard
    two = xr_coregix.register(moving, fixed)
    solve_window = register_module.solve_window
    monkeypatch.setattr(
        register_module, "solve_window", lambda w, spec, threads=1: solve_window(w, spec)
    )
    one = xr_coregix.register(moving, fixed)
    assert (two.rotation, two.translation) == (one.rotation, one.translation)
    assert two.diagnostics == one.diagnostics and min(one.diagnostics.cloud_excluded) >= 0
    assert max(one.diagnostics.cloud_excluded) > 0.02


def test_the_option_vocabulary_is_what_the_libraries_take():
    """``options.py`` spells the values out (it imports nothing heavy, for the command lines'
    start-up): the resampling names are exactly those GDAL's warp takes through rasterio."""
    import rasterio.warp

    from xr_coregix.options import RESAMPLINGS

    assert RESAMPLINGS == tuple(r.name for r in rasterio.warp.SUPPORTED_RESAMPLING)
