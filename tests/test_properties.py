"""Property-based tests (hypothesis) on real crops and on the transform algebra."""

import math

from hypothesis import given, settings
from hypothesis import strategies as st
from synthetic import misregister, rigid

import xr_coregix
from xr_coregix import RigidTransform, displacement_error

shifts = st.floats(-8.0, 8.0, allow_nan=False)
angles = st.floats(-1.0, 1.0, allow_nan=False)
coords = st.floats(-1e6, 1e6, allow_nan=False)


@settings(max_examples=6, deadline=None)
@given(dx=shifts, dy=shifts, degrees=angles)
def test_random_misregistrations_are_recovered(b4, fixed, dx, dy, degrees):
    grid = fixed.odc.geobox
    truth = rigid(dx, dy, degrees, grid)
    fit = xr_coregix.register(misregister(b4, truth, grid), fixed)
    assert displacement_error(fit, truth, grid)[0] < 0.1


@settings(max_examples=4, deadline=None)
@given(dx=shifts, dy=shifts, degrees=angles)
def test_registering_the_applied_result_finds_the_identity(b4, fixed, dx, dy, degrees):
    grid = fixed.odc.geobox
    moving = misregister(b4, rigid(dx, dy, degrees, grid), grid)
    aligned = xr_coregix.apply(moving, xr_coregix.register(moving, fixed), grid="reference")
    left = xr_coregix.register(aligned, fixed)
    assert displacement_error(left, RigidTransform.identity(), grid)[0] < 0.05


@given(
    rotation=st.floats(-math.pi, math.pi),
    tx=coords, ty=coords, cx=coords, cy=coords,
)  # fmt: skip
def test_dict_round_trip_and_inverse(fixed, rotation, tx, ty, cx, cy):
    fit = RigidTransform(rotation, (tx, ty), (cx, cy), "EPSG:32616")
    assert RigidTransform.from_dict(fit.to_dict()) == fit
    assert RigidTransform.from_json(fit.to_json()) == fit
    identity = fit.inverse().compose(fit)
    assert displacement_error(identity, RigidTransform.identity(), fixed.odc.geobox)[1] < 1e-6
