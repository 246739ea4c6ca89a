"""Bad input: a clear exception of the package, naming the argument and what to do."""

import numpy as np
import pytest
import xarray as xr
from affine import Affine
from odc.geo.geobox import GeoBox
from synthetic import misregister, rigid

import xr_coregix
from xr_coregix import (
    BandSelectionError,
    CoregError,
    CRSMismatchError,
    GridError,
    InsufficientValidDataError,
    MissingCRSError,
    NoOverlapError,
)


def test_errors_are_value_errors():
    for cls in (
        BandSelectionError,
        CRSMismatchError,
        GridError,
        InsufficientValidDataError,
        MissingCRSError,
        NoOverlapError,
    ):
        assert issubclass(cls, CoregError) and issubclass(cls, ValueError)


def test_no_crs(fixed):
    bare = xr.DataArray(fixed.values[0], dims=("y", "x"), coords={"y": fixed.y, "x": fixed.x})
    with pytest.raises(MissingCRSError, match=r"moving has no CRS.*write_crs"):
        xr_coregix.register(bare, fixed)
    with pytest.raises(MissingCRSError, match="fixed has no CRS"):
        xr_coregix.register(fixed, bare)


def test_different_crs(fixed):
    other = fixed.rio.write_crs("EPSG:32617")
    with pytest.raises(CRSMismatchError, match=r"EPSG:32617.*EPSG:32616.*[Rr]eproject"):
        xr_coregix.register(other, fixed)


def test_no_overlap(fixed):
    far = fixed.assign_coords(x=fixed.x + 1e6)
    with pytest.raises(NoOverlapError, match="do not overlap"):
        xr_coregix.register(far, fixed)


def test_overlap_too_small(fixed):
    corner = fixed.isel(y=slice(0, 12), x=slice(0, 300))
    with pytest.raises(NoOverlapError, match=r"is 10 x \d+ solve pixels, smaller than"):
        xr_coregix.register(corner, fixed)


def test_too_few_valid_pixels_reports_fraction_and_threshold(b4, fixed):
    grid = fixed.odc.geobox
    moving = misregister(b4, rigid(0.5, 0.5, 0.0, grid), grid)
    moving[:300] = np.nan  # 20 of 320 rows stay valid: 6.25 %, less the proxy's border
    with pytest.raises(InsufficientValidDataError, match=r"only 5\.\d+% .* min_valid_fraction=0.1"):
        xr_coregix.register(moving, fixed, min_valid_fraction=0.1, cloud_guard=False)
    # the cloud guard, measuring the strip alone, takes its brightest fields for cloud: the
    # message says how much it kept out, and how to keep it
    with pytest.raises(InsufficientValidDataError, match=r"cloud guard kept .* cloud_guard=False"):
        xr_coregix.register(moving, fixed, min_valid_fraction=0.1)


def test_nodata_override_masks_everything(fixed):
    flat = fixed.copy(data=np.full(fixed.shape, 7, dtype=fixed.dtype))
    with pytest.raises(InsufficientValidDataError, match=r"only 0\.00%"):
        xr_coregix.register(flat, fixed, moving_nodata=7)


@pytest.mark.parametrize("which", ["moving", "fixed"])
def test_nan_everywhere(fixed, which):
    nan = fixed.astype(np.float32).copy(data=np.full(fixed.shape, np.nan, np.float32))
    moving, reference = (nan, fixed) if which == "moving" else (fixed, nan)
    with pytest.raises(InsufficientValidDataError, match=r"only 0\.00% .* min_valid_fraction"):
        xr_coregix.register(moving, reference)


def test_all_nodata_by_metadata(fixed):
    empty = fixed.copy(data=np.full(fixed.shape, 9, fixed.dtype)).rio.write_nodata(9)
    with pytest.raises(InsufficientValidDataError, match=r"only 0\.00%"):
        xr_coregix.register(fixed, empty)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"moving_band": 3}, r"moving_band=3 is out of range: dim 'band' has 1 bands"),
        ({"fixed_band": "nir"}, r"fixed_band='nir' is neither a position nor a label"),
    ],
)
def test_band_that_does_not_exist(fixed, kwargs, match):
    with pytest.raises(BandSelectionError, match=match):
        xr_coregix.register(fixed, fixed, **kwargs)


def test_dataset_variable_that_does_not_exist(fixed):
    ds = xr.Dataset({"red": fixed.isel(band=0, drop=True)})
    with pytest.raises(BandSelectionError, match=r"'nir' is not a raster variable.*\['red'\]"):
        xr_coregix.register(ds, ds, moving_band="nir")


def test_registration_band_not_2d(fixed):
    cube = xr.concat([fixed, fixed], dim="sensor")  # (sensor, band, y, x): not a time series
    with pytest.raises(BandSelectionError, match="must be 2-D"):
        xr_coregix.register(cube, fixed)


def test_no_spatial_dims(fixed):
    table = xr.DataArray(np.zeros((3, 4)), dims=("a", "b")).rio.write_crs("EPSG:32616")
    with pytest.raises(GridError, match="no spatial dims"):
        xr_coregix.register(table, fixed)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"min_valid_fraction": 2}, "min_valid_fraction=2 must be a number between 0 and 1"),
        ({"solve_resolution": -30}, "solve_resolution=-30 must be a positive pixel size"),
        ({"stages": ("rigid", "translation")}, "stages="),
        ({"split_factor": -1}, "split_factor=-1 must be a whole number"),
    ],
)
def test_bad_arguments(fixed, kwargs, match):
    with pytest.raises(CoregError, match=match):
        xr_coregix.register(fixed, fixed, **kwargs)


def test_sheared_grid(fixed):
    sheared = GeoBox((320, 320), Affine(30, 10, 456000, 0, -30, 3400000), "EPSG:32616")
    from xr_coregix.core.images import SolveImage
    from xr_coregix.core.solve import solve

    image = SolveImage(np.ones((320, 320), np.float32), np.ones((320, 320), bool), sheared)
    with pytest.raises(GridError, match="sheared"):
        solve(image, image)


def test_apply_without_a_fit(fixed):
    with pytest.raises(
        CoregError,
        match=r"needs a fit: pass it, obj\.coreg\.apply\(fit, grid=\.\.\.\), or call obj\.coreg\.register\(fixed\)",
    ):
        fixed.coreg.apply()


def test_apply_with_a_fit_of_another_crs(fixed):
    fit = xr_coregix.RigidTransform(0.0, (1.0, 0.0), crs="EPSG:32617")
    with pytest.raises(CRSMismatchError, match="the fit is in"):
        xr_coregix.apply(fixed, fit)


def test_every_exception_class_lives_in_errors_and_is_exported():
    import importlib
    import pkgutil

    defined = set()
    for module in pkgutil.walk_packages(xr_coregix.__path__, "xr_coregix."):
        if module.name == "xr_coregix.__main__":
            continue
        for value in vars(importlib.import_module(module.name)).values():
            ours = isinstance(value, type) and value.__module__.startswith("xr_coregix")
            if ours and issubclass(value, BaseException):
                defined.add((value.__module__, value.__name__))
    assert ("xr_coregix.errors", "RasterIOError") in defined
    assert {module for module, _ in defined} == {"xr_coregix.errors"}
    assert {name for _, name in defined} <= set(xr_coregix.__all__)
    assert all(getattr(xr_coregix, name).__module__ == "xr_coregix.errors" for _, name in defined)
