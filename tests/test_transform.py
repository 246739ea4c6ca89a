"""RigidTransform: the mapping, its derived forms, and serialisation."""

import json
import math
from dataclasses import fields, replace

import numpy as np
import pytest
from affine import Affine
from odc.geo.geobox import GeoBox
from synthetic import DATA, diagnostics

import xr_coregix
from xr_coregix import CoregError, Diagnostics, RigidTransform, StageResult, displacement_error

GRID = GeoBox((200, 300), Affine(30, 0, 450000, 0, -30, 3400000), "EPSG:32616")


def make_fit() -> RigidTransform:
    diag = diagnostics(
        stages=(StageResult("translation", -0.4, 12, "Step too small", 0.0, (1.0, 2.0)),),
    )
    return RigidTransform(
        0.01,
        (45.0, -15.0),
        (454500.0, 3397000.0),
        "EPSG:32616",
        diag,
        reference_geobox=GRID,
        reference_nodata=0.0,
    )


def test_mapping_follows_the_documented_formula():
    fit = RigidTransform(math.radians(90), (10.0, 0.0), (100.0, 100.0))
    # x' = R (x - c) + c + t: (200, 100) -> R (100, 0) + (100, 100) + (10, 0) = (110, 200)
    x, y = fit(200.0, 100.0)
    assert (float(x), float(y)) == pytest.approx((110.0, 200.0))


def test_matrix_affine_and_call_agree():
    fit = make_fit()
    pts = np.array([[450000.0, 3400000.0], [459000.0, 3394000.0]])
    x, y = fit(pts[:, 0], pts[:, 1])
    via_matrix = fit.matrix @ np.c_[pts, np.ones(2)].T
    via_affine = [fit.affine @ tuple(p) for p in pts]
    np.testing.assert_allclose(np.c_[x, y], via_matrix[:2].T, rtol=0, atol=1e-6)
    np.testing.assert_allclose(np.c_[x, y], via_affine, rtol=0, atol=1e-6)


def test_inverse_composed_with_fit_is_identity():
    fit = make_fit()
    ident = fit.inverse().compose(fit)
    assert ident.rotation == pytest.approx(0.0, abs=1e-12)
    _mean, worst = displacement_error(ident, RigidTransform.identity(), GRID)
    assert worst < 1e-9


def test_from_matrix_keeps_the_mapping_for_any_centre():
    fit = make_fit()
    other = RigidTransform.from_matrix(fit.matrix, center=(0.0, 0.0), crs=fit.crs)
    assert displacement_error(other, fit, GRID)[1] < 1e-9


def test_shift_in_pixels_uses_the_grid_axes():
    fit = RigidTransform(0.0, (60.0, 90.0))
    # north-up: +y (north) is a negative row offset
    assert fit.shift_in_pixels(GRID) == pytest.approx((2.0, -3.0))
    assert fit.shift_in_pixels(30.0) == pytest.approx((2.0, 3.0))


def test_dict_and_json_round_trip():
    fit = make_fit()
    back = RigidTransform.from_json(fit.to_json())
    assert back == fit
    assert back.diagnostics == fit.diagnostics
    assert back.reference_geobox == GRID
    assert json.loads(fit.to_json())["crs"] == "EPSG:32616"
    assert RigidTransform.from_dict(fit.to_dict()) == fit


def test_repr_reads_shift_rotation_and_metric():
    text = repr(make_fit())
    assert "shift=(45.000, -15.000) CRS units" in text
    assert "(1.500, -0.500) px" in text
    assert f"rotation={math.degrees(0.01):.4f} deg" in text
    assert "metric -0.1000 -> -0.5000" in text


def test_displacement_error_in_pixels():
    shifted = RigidTransform(0.0, (15.0, 0.0))
    mean, worst = displacement_error(shifted, RigidTransform.identity(), GRID)
    assert mean == pytest.approx(0.5) and worst == pytest.approx(0.5)


# ----------------------------------------------------------------- the reference, part of the fit
def test_fits_against_different_reference_grids_are_not_equal():
    fit = make_fit()
    moved = GeoBox(GRID.shape, Affine.translation(30.0, 0.0) @ GRID.affine, GRID.crs)
    assert replace(fit, reference_geobox=moved) != fit  # one pixel east: another output grid
    assert replace(fit, reference_geobox=GRID[:100, :]) != fit  # another extent
    assert replace(fit, reference_nodata=-9999.0) != fit
    assert replace(fit, reference_geobox=None, reference_nodata=None) != fit
    # the diagnostics do not count
    assert replace(fit, diagnostics=None) == fit
    assert hash(replace(fit, diagnostics=None)) == hash(fit)


def test_round_trips_keep_the_reference_grid_and_nodata():
    fit = make_fit()
    data = json.loads(fit.to_json())
    assert data["reference"] == {
        "shape": [200, 300],
        "transform": [30.0, 0.0, 450000.0, 0.0, -30.0, 3400000.0],
        "nodata": 0.0,
    }
    assert "reference_shape" not in data["diagnostics"]  # stored once, on the fit
    back = RigidTransform.from_json(fit.to_json())
    assert back.reference_geobox == GRID and back.reference_nodata == 0.0
    assert back == fit and hash(back) == hash(fit)
    nan_nodata = replace(fit, reference_nodata=math.nan)
    assert RigidTransform.from_json(nan_nodata.to_json()) == nan_nodata  # NaN nodata equals NaN
    bare = RigidTransform(0.0, (1.0, 2.0), crs="EPSG:32616")
    assert bare.to_dict()["reference"] is None
    assert RigidTransform.from_dict(bare.to_dict()).reference_geobox is None


def test_the_reference_grid_takes_the_crs_of_the_fit():
    fit = RigidTransform(0.0, (30.0, 0.0), reference_geobox=GRID)
    assert fit.crs == GRID.crs  # taken from the grid
    with pytest.raises(
        CoregError,
        match=r"^RigidTransform reference_geobox is in EPSG:32616 but crs is EPSG:32617: a fit "
        r"and its reference share one CRS$",
    ):
        RigidTransform(0.0, (30.0, 0.0), crs="EPSG:32617", reference_geobox=GRID)
    with pytest.raises(
        CoregError, match=r"^RigidTransform reference_geobox is a tuple: must be a GeoBox"
    ):
        RigidTransform(0.0, (30.0, 0.0), reference_geobox=(200, 300))
    with pytest.raises(CoregError, match=r"^RigidTransform reference_nodata='0': must be a"):
        RigidTransform(0.0, (30.0, 0.0), reference_nodata="0")
    with pytest.raises(CoregError, match=r"^RigidTransform.from_dict: the reference cannot be"):
        RigidTransform.from_dict({**make_fit().to_dict(), "reference": {"shape": [200]}})


def test_register_records_the_reference_and_apply_uses_it_after_a_round_trip(b4, fixed):
    moving = b4.isel(x=slice(10, 330), y=slice(20, 340))
    fit = xr_coregix.register(moving, fixed)
    assert fit.reference_geobox == fixed.odc.geobox
    assert fit.reference_nodata == fixed.rio.nodata
    assert not any(f.name.startswith("reference") for f in fields(Diagnostics))
    back = RigidTransform.from_json(fit.to_json())
    assert back == fit and hash(back) == hash(fit)  # hash: the CRS read back as EPSG:32616
    onto = xr_coregix.apply(moving, back, grid="reference")
    assert onto.odc.geobox == fixed.odc.geobox
    np.testing.assert_array_equal(
        onto.values, xr_coregix.apply(moving, fit, grid="reference").values
    )
    # the same mapping made against a crop of the reference is another fit
    cropped = xr_coregix.register(moving, fixed.isel(x=slice(0, 300)))
    assert cropped.reference_geobox.shape == (320, 300)
    assert replace(cropped, rotation=fit.rotation, translation=fit.translation,
                   center=fit.center) != fit  # fmt: skip


def test_a_fit_saved_before_the_reference_became_a_field_still_loads():
    """JSON written by xr_coregix before November 2026 kept the reference grid in its
    diagnostics: it loads, with that grid as the field, and applies as a fit made now with the
    same numbers does (the solver's own numbers may have moved since)."""
    text = (DATA / "fit_before_reference_field.json").read_text()
    old = RigidTransform.from_json(text)
    saved = json.loads(text)
    moving, fixed = xr_coregix.data.example_pair()
    assert old.reference_geobox == fixed.odc.geobox and old.reference_nodata is None
    assert (old.rotation, list(old.translation)) == (saved["rotation"], saved["translation"])
    new = RigidTransform(old.rotation, old.translation, old.center,
                         reference_geobox=fixed.odc.geobox)  # fmt: skip
    assert old == new
    aligned_old = xr_coregix.apply(moving, old, grid="reference")
    aligned_new = xr_coregix.apply(moving, new, grid="reference")
    np.testing.assert_array_equal(aligned_old.values, aligned_new.values)
