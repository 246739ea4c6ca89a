"""Masks given to register: put on the band's grid exactly, and refused with a clear reason."""

import numpy as np
import pytest
import xarray as xr
from affine import Affine
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords
from synthetic import misregister, rigid

import xr_coregix
from xr_coregix import CoregError, CRSMismatchError, DataTypeError, GridError
from xr_coregix.core.consensus import Layer, choose_layer, find_layers
from xr_coregix.core.exclusion import cloud_threshold, guard_side
from xr_coregix.xr.exclude import mask_on_grid


def _mask_on(grid, cells):
    """A boolean mask on ``grid`` set at ``cells`` (row, column)."""
    values = np.zeros(grid.shape, bool)
    for r, c in cells:
        values[r, c] = True
    return xr.DataArray(values, dims=("y", "x"), coords=xr_coords(grid, dims=("y", "x")))


@pytest.fixture(scope="module")
def band(fixed):
    return fixed.squeeze(drop=True)


def test_a_mask_on_the_band_grid_is_taken_as_it_is(fixed, band):
    mask = _mask_on(band.odc.geobox, [(3, 4), (100, 200)])
    out = mask_on_grid(mask.expand_dims(band=[1]), fixed, band, "fixed_mask")
    assert out.dims == band.dims and int(out.sum()) == 2 and bool(out[100, 200])


def test_a_wider_mask_on_the_same_lattice_is_cropped(b4, fixed, band):
    mask = _mask_on(b4.odc.geobox, [(32, 32), (40, 50), (0, 0)])  # (0, 0) is outside the band
    out = mask_on_grid(mask, fixed, band, "fixed_mask")
    assert out.shape == band.shape and int(out.sum()) == 2
    assert bool(out[0, 0]) and bool(out[8, 18])
    np.testing.assert_array_equal(out.x.values, band.x.values)


def test_a_finer_mask_excludes_a_pixel_when_any_of_its_cells_is_set(b8, fixed, band):
    """A 15 m mask on a 30 m band: a set 15 m cell excludes every 30 m pixel it touches."""
    grid = band.odc.geobox
    fine = GeoBox((640, 640), grid.affine @ Affine.scale(0.5), grid.crs)  # aligned, 15 m
    cells = [(64, 64), (65, 65), (200, 301)]  # the first two fall in one 30 m pixel
    out = mask_on_grid(_mask_on(fine, cells), fixed, band, "fixed_mask")
    assert int(out.sum()) == 2 and bool(out[32, 32]) and bool(out[100, 150])
    pan = b8.odc.geobox  # the pan band's own grid, offset by 7.5 m: this cell straddles four
    assert int(mask_on_grid(_mask_on(pan, [(65, 65)]), fixed, band, "fixed_mask").sum()) == 4


def test_a_coarser_mask_is_looked_up_at_pixel_centres(fixed, band):
    coarse = band.odc.geobox.zoom_out(4)  # 120 m cells
    out = mask_on_grid(_mask_on(coarse, [(10, 20)]), fixed, band, "fixed_mask")
    assert int(out.sum()) == 16 and bool(out[40:44, 80:84].all())


def test_a_mask_short_of_its_raster_leaves_the_rest_clear(fixed, band):
    half = band.odc.geobox[:100, :]
    out = mask_on_grid(_mask_on(half, [(5, 5)]).astype(bool), fixed, band, "fixed_mask")
    assert out.shape == band.shape and int(out.sum()) == 1


def test_a_dataset_variable_by_name(fixed, band):
    ds = xr.Dataset({"red": band, "cloud": band.copy(data=_mask_on(band.odc.geobox, [(1, 1)]))})
    out = mask_on_grid("cloud", ds, band, "moving_mask")
    assert int(out.sum()) == 1


@pytest.mark.parametrize(
    "make,error,words",
    [
        (lambda m: m.astype(np.uint8), DataTypeError, "dtype uint8: pass a boolean mask"),
        (lambda m: "clouds", CoregError, "is not a mask"),
        (lambda m: m.rio.write_crs(32617), CRSMismatchError, "reproject the mask"),
        (lambda m: m.assign_coords(x=m.x + 1e6), GridError, "does not overlap"),
        (lambda m: xr.concat([m, m], "band"), CoregError, "must be 2-D"),
    ],
)
def test_bad_masks_are_refused(fixed, band, make, error, words):
    mask = _mask_on(band.odc.geobox, [(1, 1)])
    with pytest.raises(error, match=words):
        xr_coregix.register(fixed, fixed, fixed_mask=make(mask))


@pytest.mark.parametrize(
    "kwargs,words",
    [
        ({"cloud_guard": "maybe"}, "cloud_guard='maybe'"),
        ({"mask_dilation": -1}, "mask_dilation=-1"),
        ({"mask_dilation": 2.5}, "mask_dilation=2.5"),
    ],
)
def test_bad_mask_options_are_refused(fixed, kwargs, words):
    with pytest.raises(CoregError, match=words):
        xr_coregix.register(fixed, fixed, **kwargs)


def test_a_mask_along_time_is_taken_date_by_date(b4, fixed):
    """A cube with its masks: each date's mask goes with its date (the second date's mask
    covers everything, so it has no fit, and says why)."""
    grid = fixed.odc.geobox
    dates = [misregister(b4, rigid(dx, 0.5, 0.0, grid), grid) for dx in (1.0, -2.0)]
    cube = xr.concat(dates, "time").assign_coords(
        time=np.array(["2024-06-01", "2024-07-01"], dtype="datetime64[ns]")
    )
    clear = _mask_on(grid, [])
    masks = xr.concat([clear, ~clear], "time").assign_coords(time=cube.time)
    series = xr_coregix.register(cube, fixed, moving_mask=masks)
    assert series.fits[0] is not None and series.fits[1] is None
    assert "kept 100.0% of moving's" in series.errors[1]


def test_the_cloud_threshold_does_not_grow_with_cover():
    rng = np.random.default_rng(1)
    ground = rng.gamma(3.0, 400.0, 50_000) + 5000
    thresholds = {
        cover: cloud_threshold(
            np.r_[ground, rng.uniform(15_000, 40_000, int(50_000 * cover / (1 - cover)))], "bright"
        )
        for cover in (0.0, 0.1, 0.3, 0.45)
    }
    assert len(set(thresholds.values())) == 1  # the same fixed point, exactly
    assert cloud_threshold(np.full(100, 7.0), "bright") is None  # no spread, no threshold


def test_the_guard_side_follows_the_clouds():
    rng = np.random.default_rng(2)
    ground = rng.normal(295.0, 3.0, 50_000)  # kelvin
    cold = np.r_[ground, rng.uniform(220.0, 260.0, 15_000)]
    assert guard_side(cold) == "cold" and cloud_threshold(cold, "cold") > 260.0
    assert guard_side(ground) == "bright"
    assert guard_side(np.r_[ground, rng.uniform(320.0, 400.0, 15_000)]) == "bright"


def _anchors(shifts, rotation=0.0, noise=0.0, seed=0):
    """Anchors of chunks in a row, each moved by its shift (and a common rotation)."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(np.arange(5.0), np.arange(5.0)), -1).reshape(-1, 2) * 20
    src = np.stack([grid + [120.0 * i, 0.0] for i in range(len(shifts))])
    c, s = np.cos(rotation), np.sin(rotation)
    dst = src @ np.array([[c, s], [-s, c]]) + np.asarray(shifts, float)[:, None, :]
    return src, dst + rng.normal(0, noise, dst.shape)


def test_clear_chunks_outvote_more_numerous_cloudy_ones():
    ground, cloud = (0.5, 0.2), (12.5, 0.2)
    src, dst = _anchors([ground] * 3 + [cloud] * 5, rotation=0.002, noise=0.05)
    clear = np.array([0.97, 0.95, 0.99, 0.8, 0.7, 0.85, 0.6, 0.75])
    first, second = find_layers(src, dst, clear, tolerance=1.0)
    assert first.members == (0, 1, 2) and second.members == (3, 4, 5, 6, 7)
    assert choose_layer(first, second) is first


def test_layers_both_holding_clear_chunks_are_ambiguous():
    src, dst = _anchors([(0.5, 0.0)] * 4 + [(6.0, 1.0)] * 4, noise=0.05)
    clear = np.array([1.0, 0.95, 0.8, 0.7, 0.99, 0.97, 0.8, 0.6])
    first, second = find_layers(src, dst, clear, tolerance=1.0)
    assert second is not None and choose_layer(first, second) is None


def test_a_few_strays_are_no_layer():
    """Two diverged chunks of ten do not make a second layer; they are left out."""
    src, dst = _anchors([(1.0, 1.0)] * 8 + [(9.0, 0.0), (-7.0, 3.0)], noise=0.05)
    first, second = find_layers(src, dst, np.ones(10), tolerance=1.0)
    assert first.members == tuple(range(8)) and second is None
    assert isinstance(choose_layer(first, second), Layer)
