"""RigidTransform: the mapping, its derived forms, and serialisation."""

import json
import math

import numpy as np
import pytest
from affine import Affine
from odc.geo.geobox import GeoBox
from synthetic import diagnostics

from xr_coregix import RigidTransform, StageResult, displacement_error

GRID = GeoBox((200, 300), Affine(30, 0, 450000, 0, -30, 3400000), "EPSG:32616")


def make_fit() -> RigidTransform:
    diag = diagnostics(
        stages=(StageResult("translation", -0.4, 12, "Step too small", 0.0, (1.0, 2.0)),),
        reference_shape=(200, 300),
        reference_transform=tuple(GRID.affine)[:6],
        reference_nodata=0.0,
    )
    return RigidTransform(0.01, (45.0, -15.0), (454500.0, 3397000.0), "EPSG:32616", diag)


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
