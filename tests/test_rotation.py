"""The rigid stage's rotation is kept only when it stands out of the spread of local shifts.

Across bands, content placed differently in the two bands (clouds the guard leaves, edges of
vegetation) turns the rigid stage by a few hundredths of a degree, several times the metric's
own noise: on the Landsat scene of ``tests/data``, whose bands are co-registered on the ground,
that moved the corners of B8 0.6 px off B4. A rotation the data hold (the same band turned, a
band turned a few tenths of a degree) is kept.
"""

import math

import numpy as np
import pytest
import rioxarray
from synthetic import DATA, as_solved, misregister, rigid

import xr_coregix
from xr_coregix import RigidTransform, displacement_error
from xr_coregix.core import solve
from xr_coregix.core.precision import ROTATION_SIGMAS, rotation_error, rotation_supported
from xr_coregix.pipeline import fit_text
from xr_coregix.xr import central

GRID3 = np.array([[x, y] for y in (-1.0, 0.0, 1.0) for x in (-1.0, 0.0, 1.0)]) * 100.0


def _scene(band):
    return rioxarray.open_rasterio(DATA / f"scene_{band}.tif")


def test_rotation_error_is_the_scatter_about_a_rigid_motion():
    """A translation and a rotation of the shifts are fitted away; what is left scatters."""
    scatter = np.random.default_rng(1).normal(0.0, 0.2, GRID3.shape)
    error = rotation_error(GRID3, scatter)
    turned = scatter + [0.3, -0.1] + 0.004 * np.c_[-GRID3[:, 1], GRID3[:, 0]]
    assert rotation_error(GRID3, turned) == pytest.approx(error)
    # the scatter's own size over the lattice's spread (6 points 100 px out, 2 at 141 px)
    assert 0.3 * 0.2 / 346 < error < 3 * 0.2 / 346
    assert rotation_error(GRID3, np.zeros_like(GRID3)) == 0.0
    assert not rotation_supported(0.99 * ROTATION_SIGMAS * error, error)
    assert rotation_supported(-1.01 * ROTATION_SIGMAS * error, error)
    assert rotation_supported(1e-9, None)  # untested: kept


@pytest.mark.parametrize("band", ["B3", "B5", "B8"])
@pytest.mark.parametrize("split_factor", [0, 2])
def test_the_content_rotation_of_co_registered_bands_is_left_out(band, split_factor):
    """The rigid stage turns them 0.03-0.07 degrees, with local shifts that scatter by tenths
    of a pixel: left out, the whole scene within 0.15 px of B4 (0.13-0.31 px with it)."""
    fixed, moving = _scene("B4"), _scene(band)
    grid = fixed.odc.geobox
    fit = xr_coregix.register(moving, fixed, split_factor=split_factor, on_failure="warn")
    diag = fit.diagnostics
    assert fit.rotation == 0.0
    assert 0.0003 < abs(diag.rotation_left_out) < ROTATION_SIGMAS * diag.rotation_error
    assert displacement_error(fit, RigidTransform.identity(), grid)[0] < 0.15
    # as the rigid stage found it, it was worse
    assert displacement_error(as_solved(fit), RigidTransform.identity(), grid)[0] > 0.12


@pytest.mark.parametrize("band,degrees", [("B4", 0.02), ("B4", -0.3), ("B5", 0.3)])
def test_a_rotation_the_data_hold_is_kept(b4, b5, fixed, band, degrees):
    """The same band turned 0.02 degrees (0.06 px at the crop's corners) stands 7 errors out;
    NIR against red turned 0.3 degrees, 6."""
    grid = fixed.odc.geobox
    truth = rigid(0.6, -1.1, degrees, grid)
    source = {"B4": b4, "B5": b5}[band]
    fit = xr_coregix.register(misregister(source, truth, grid), fixed, on_failure="warn")
    diag = fit.diagnostics
    assert diag.rotation_left_out is None
    assert abs(fit.rotation) > ROTATION_SIGMAS * diag.rotation_error
    if band == "B4":
        assert displacement_error(fit, truth, grid)[0] < 0.02  # as test_accuracy's
    else:  # the crop's content turns it by its own few hundredths of a degree
        assert abs(fit.rotation_degrees - degrees) < 0.08


def test_a_chunked_fit_of_a_large_overlap_tests_its_rotation_on_its_chunks(monkeypatch):
    """An overlap larger than the central window is not refined there: the rotation is tested
    on the spread of the chunks' offsets (four of them here)."""
    monkeypatch.setattr(central, "LAYER_WINDOW_PIXELS", 128 * 128)
    fixed, moving = _scene("B4"), _scene("B5")
    fit = xr_coregix.register(moving, fixed, split_factor=2, on_failure="warn")
    diag = fit.diagnostics
    assert diag.rotation_error is not None and diag.rotation_left_out is not None
    assert fit.rotation == 0.0
    grid = fixed.odc.geobox
    assert displacement_error(fit, RigidTransform.identity(), grid)[0] < 0.15


def test_only_the_rigid_stage_of_a_single_solve_or_global_fit_is_tested(b4, fixed, monkeypatch):
    """A translation-only solve has nothing to test; chunks do not test theirs (the global fit
    tests its own, here on the chunks' offsets: the overlap exceeds the patched window)."""
    grid = fixed.odc.geobox
    moving = misregister(b4, rigid(0.6, -1.1, 0.0, grid), grid)
    calls = []
    tested = solve.rotation_test
    monkeypatch.setattr(solve, "rotation_test", lambda *a, **k: calls.append(1) or tested(*a, **k))
    diag = xr_coregix.register(moving, fixed, stages=("translation",)).diagnostics
    assert diag.rotation_error is None and diag.rotation_left_out is None and not calls
    xr_coregix.register(moving, fixed)
    assert len(calls) == 1
    monkeypatch.setattr(central, "LAYER_WINDOW_PIXELS", 128 * 128)
    chunked = xr_coregix.register(moving, fixed, split_factor=2)
    assert len(calls) == 1  # no chunk ran the windows' test
    assert chunked.diagnostics.rotation_error is not None  # the global fit's, from 4 chunks
    assert displacement_error(chunked, rigid(0.6, -1.1, 0.0, grid), grid)[0] < 0.02


def test_the_rotation_left_out_is_shown():
    fixed, moving = _scene("B4"), _scene("B8")
    fit = xr_coregix.register(moving, fixed)
    degrees = f"{math.degrees(fit.diagnostics.rotation_left_out):.4f} deg left out"
    assert degrees in repr(fit) and degrees in fit._repr_html_() and degrees in fit_text(fit)
    assert "rotation=0.0000 deg" in repr(fit)


@pytest.mark.parametrize("band", ["B3", "B5", "B8"])
def test_the_bound_covers_what_the_windows_disagree_by(band):
    """The metric's curvature gave these co-registered bands bounds of 0.01-0.05 px while the
    fits lie 0.04-0.14 px from the ground: the windows' local shifts scatter by tenths of a
    pixel (the bands' content differs), and the bound takes that scatter
    (``diagnostics.local_precision``), as a chunked fit's takes its chunks' spread."""
    fixed, moving = _scene("B4"), _scene(band)
    fit = xr_coregix.register(moving, fixed)
    diag = fit.diagnostics
    error = displacement_error(fit, RigidTransform.identity(), fixed.odc.geobox)[0]
    assert error <= diag.error_bound < 1.0
    assert math.hypot(*diag.local_precision) > math.hypot(*diag.shift_precision)


def test_a_fit_the_windows_do_not_hold_is_refused():
    """Raw values of pan B8 against red B4 follow the scene's clouds, with windows that
    disagree by a pixel: the bound passes a pixel and the fit is refused (the layer check, which
    allows six of the metric's own standard errors, not the windows', refuses it as well)."""
    fixed, moving = _scene("B4"), _scene("B8")
    with pytest.raises(xr_coregix.RegistrationError, match="the fit is imprecise"):
        xr_coregix.register(moving, fixed, edge_proxy=False)
