"""The .coreg accessor on DataArray and Dataset, band choice, and the functional form."""

import numpy as np
import pytest
import xarray as xr
from synthetic import misregister, rigid

import xr_coregix
from xr_coregix import displacement_error


@pytest.fixture(scope="module")
def pair(b4, b5, fixed):
    """A two-band moving raster (red, nir) carrying a known misregistration."""
    grid = fixed.odc.geobox
    truth = rigid(1.7, -0.9, 0.35, grid)
    red = misregister(b4, truth, grid)
    nir = misregister(b5, truth, grid)
    moving = xr.concat([red, nir], dim="band").assign_coords(band=["red", "nir"])
    return moving, truth


def test_accessor_is_registered_on_both_types():
    assert isinstance(xr.DataArray([1]).coreg, xr_coregix.CoregAccessor)
    assert isinstance(xr.Dataset().coreg, xr_coregix.CoregAccessor)


def test_accessor_and_function_are_the_same(pair, fixed):
    moving, truth = pair
    via_accessor = moving.coreg.register(fixed)
    via_function = xr_coregix.register(moving, fixed, moving_band=0)
    assert via_accessor == via_function
    assert moving.coreg.fit is via_accessor
    assert displacement_error(via_accessor, truth, fixed.odc.geobox)[0] < 0.02


def test_band_by_label_and_by_position(pair, fixed):
    moving, _truth = pair
    by_label = xr_coregix.register(moving, fixed, moving_band="red")
    by_position = xr_coregix.register(moving, fixed, moving_band=0)
    assert by_label == by_position
    nir = xr_coregix.register(moving, fixed, moving_band="nir")
    assert nir != by_label  # another band drives it


def test_band_by_description(pair, fixed):
    moving, _ = pair
    described = moving.assign_coords(band=[1, 2])
    described.attrs["long_name"] = ("red", "nir")
    assert xr_coregix.register(described, fixed, moving_band="red") == xr_coregix.register(
        moving, fixed, moving_band="red"
    )


def test_dataset_registers_on_a_named_variable_and_applies_to_all(pair, fixed):
    moving, truth = pair
    ds = moving.to_dataset(dim="band")
    ds = ds.assign(red=ds["red"].rio.write_nodata(np.nan), nir=ds["nir"].rio.write_nodata(np.nan))
    reference = xr.Dataset({"B4": fixed.isel(band=0, drop=True)})
    fit = ds.coreg.register(reference, moving_band="red", fixed_band="B4")
    assert displacement_error(fit, truth, fixed.odc.geobox)[0] < 0.02
    aligned = ds.coreg.apply(grid="reference")
    assert set(aligned.data_vars) == {"red", "nir"}
    assert aligned["nir"].odc.geobox == fixed.odc.geobox


def test_every_band_is_warped(pair, fixed):
    moving, _ = pair
    moving.coreg.register(fixed)
    aligned = moving.coreg.apply(grid="reference")
    assert aligned.sizes["band"] == 2
    np.testing.assert_array_equal(aligned.band.values, ["red", "nir"])


def test_the_accessor_binds_the_functions_with_their_signatures():
    """``obj.coreg.register``/``apply`` show the functions' own keywords (no ``**kwargs``)."""
    import inspect

    for method, func in (
        (xr_coregix.CoregAccessor.register, xr_coregix.register),
        (xr_coregix.CoregAccessor.apply, xr_coregix.apply),
    ):
        bound = list(inspect.signature(method).parameters)
        plain = list(inspect.signature(func).parameters)
        assert bound == ["self", *plain[1:]]
        assert func.__doc__ in method.__doc__


def test_a_new_object_needs_the_fit_passed():
    """``ds["red"]`` is a new object each time, with a new accessor: apply without a fit says
    so; with the fit it warps, exactly as the plain function does."""
    moving, fixed = xr_coregix.data.example_pair()
    ds = moving.to_dataset(name="red")
    fit = ds["red"].coreg.register(fixed)
    with pytest.raises(xr_coregix.CoregError, match=r'new object.*ds\["red"\].*pass it'):
        ds["red"].coreg.apply(grid="reference")
    with pytest.raises(xr_coregix.CoregError, match="needs a fit"):
        moving.chunk(64).coreg.apply()
    aligned = ds["red"].coreg.apply(fit, grid="reference")
    expected = xr_coregix.apply(ds["red"], fit, grid="reference")
    assert aligned.identical(expected)
