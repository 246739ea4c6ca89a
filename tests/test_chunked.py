"""Chunked registration: local solves as dask tasks, anchors, one robust global fit."""

import dask.array as dsa
import numpy as np
import pytest
import xarray as xr
from synthetic import inner, misregister, rigid

import xr_coregix
from xr_coregix import RegistrationError, RigidTransform, displacement_error
from xr_coregix.xr.problem import Problem
from xr_coregix.xr.register import derive_split_factor

CASES = [(0.37, -0.61, 0.0), (-4.2, 3.1, -1.0)]


@pytest.mark.parametrize("case", CASES)
def test_chunked_fit_recovers_the_truth_and_agrees_with_the_single_solve(b4, fixed, case):
    grid = fixed.odc.geobox
    truth = rigid(*case, grid)
    moving = misregister(b4, truth, grid)
    chunked = xr_coregix.register(moving, fixed, split_factor=2)
    single = xr_coregix.register(moving, fixed, split_factor=0)
    assert displacement_error(chunked, truth, grid)[0] < 0.05
    assert displacement_error(chunked, single, grid)[0] < 0.05
    diag = chunked.diagnostics
    assert diag.split_factor == 2 and len(diag.chunks) == 4
    assert all(c.status == "ok" and len(c.anchors) == 25 for c in diag.chunks)
    assert diag.anchors_used + diag.anchors_rejected == 100
    assert diag.anchor_rmse < 0.05


@pytest.mark.parametrize("split_factor", [2, 3])
def test_an_aligned_pair_keeps_every_chunk(b4, fixed, split_factor):
    """Chunks that start at the optimum cannot improve the metric; they must still count
    (they once were all skipped, and an aligned pair could not be registered chunked)."""
    grid = fixed.odc.geobox
    fit = xr_coregix.register(inner(b4, 32), fixed, split_factor=split_factor)
    assert all(c.status == "ok" for c in fit.diagnostics.chunks)
    assert displacement_error(fit, RigidTransform.identity(), grid)[0] < 0.02


def test_chunked_cross_band_differential(b5, fixed):
    grid = fixed.odc.geobox
    truth = rigid(2.3, 1.7, 0.6, grid)
    clean = xr_coregix.register(inner(b5, 32), fixed, split_factor=2)
    fit = xr_coregix.register(misregister(b5, truth, grid), fixed, split_factor=2)
    assert displacement_error(clean.inverse().compose(fit), truth, grid)[0] < 0.1


def test_a_misleading_chunk_is_set_aside(b4, fixed):
    """One quadrant of the moving raster is replaced by other ground (another part of the
    scene): that chunk finds no significant match and must not pull the global fit. (With the
    cloud guard on, it keeps enough true ground in its overlap to solve right.)"""
    grid = fixed.odc.geobox
    truth = rigid(1.1, -0.8, 0.3, grid)
    moving = misregister(b4, truth, grid)
    values = moving.values.copy()
    values[:160, :160] = np.rot90(values[160:, 160:], 2)  # a different landscape
    moving = moving.copy(data=values)
    fit = xr_coregix.register(moving, fixed, split_factor=2, cloud_guard=False)
    chunks = fit.diagnostics.chunks
    assert [c.status for c in chunks] == ["skipped", "ok", "ok", "ok"], chunks
    assert "no significant match" in chunks[0].reason
    assert displacement_error(fit, truth, grid)[0] < 0.1
    guarded = xr_coregix.register(moving, fixed, split_factor=2)
    assert displacement_error(guarded, truth, grid)[0] < 0.02


def test_too_few_good_chunks_says_use_a_smaller_split_factor(b4, fixed):
    grid = fixed.odc.geobox
    moving = misregister(b4, rigid(0.5, 0.5, 0.0, grid), grid)
    moving[:200] = np.nan  # only a 120 x 60 corner is valid: one chunk of 2 x 4 has data
    moving[:, 60:] = np.nan
    with pytest.raises(RegistrationError, match=r"smaller split_factor than 3") as err:
        xr_coregix.register(moving, fixed, split_factor=3)
    assert "chunk 7:" in str(err.value)


def test_chunked_fit_serialises_with_its_chunks(b4, fixed):
    grid = fixed.odc.geobox
    fit = xr_coregix.register(misregister(b4, rigid(1, 1, 0.2, grid), grid), fixed, split_factor=1)
    back = RigidTransform.from_json(fit.to_json())
    assert back == fit and back.diagnostics == fit.diagnostics
    assert "2/2 chunks, 50 anchors" in repr(fit)


def test_split_factor_derived_from_dask_input():
    from affine import Affine
    from odc.geo.geobox import GeoBox
    from odc.geo.xr import xr_coords

    def lazy(size, chunk):
        grid = GeoBox((size, size), Affine(10, 0, 0, 0, -10, 0), "EPSG:32616")
        data = dsa.zeros((size, size), chunks=chunk, dtype=np.uint16)
        return xr.DataArray(data, dims=("y", "x"), coords=xr_coords(grid, dims=("y", "x")))

    def derived(moving, fixed):
        problem = Problem.build(
            moving, fixed, moving_band=0, fixed_band=0, edge_proxy=True,
            stages=("translation", "rigid"), moving_nodata=None, fixed_nodata=None,
            min_valid_fraction=0.01, solve_resolution=None,
        )  # fmt: skip
        return derive_split_factor(problem)

    assert derived(lazy(8192, 1024), lazy(8192, 1024)) == 4  # 16 chunks of 2048 x 2048
    assert derived(lazy(8192, 4096), lazy(8192, 4096)) == 2  # never below the dask chunks
    assert derived(lazy(1200, 256), lazy(1200, 256)) == 0  # small: one solve
    numpy = lazy(8192, 1024).compute()
    assert derived(numpy, numpy) == 0


def test_dask_input_registers_without_loading_everything_first(b4, fixed):
    grid = fixed.odc.geobox
    truth = rigid(-1.5, 0.9, 0.4, grid)
    moving = misregister(b4, truth, grid).chunk(100)
    fit = xr_coregix.register(moving, fixed.chunk(100), split_factor=2)
    assert displacement_error(fit, truth, grid)[0] < 0.05
