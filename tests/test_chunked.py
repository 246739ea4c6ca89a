"""Chunked registration: local solves as dask tasks, anchors, one robust global fit."""

from dataclasses import replace

import dask.array as dsa
import numpy as np
import pytest
import xarray as xr
from affine import Affine
from odc.geo.geobox import GeoBox
from synthetic import as_solved, inner, misregister, rigid

import xr_coregix
from xr_coregix import RegistrationError, RigidTransform, displacement_error
from xr_coregix.core.anchors import plan_chunks
from xr_coregix.core.images import SolveImage
from xr_coregix.xr import central
from xr_coregix.xr.arguments import RegisterOptions
from xr_coregix.xr.chunked import MAX_CHUNKS, chosen_chunks
from xr_coregix.xr.problem import Problem
from xr_coregix.xr.register import derive_split_factor

OPTIONS = RegisterOptions(
    moving_band=0, fixed_band=0, edge_proxy=True, stages=("translation", "rigid"),
    moving_nodata=None, fixed_nodata=None, min_valid_fraction=0.01, solve_resolution=None,
    split_factor=None, max_shift=50.0, on_failure="raise", mask_dilation=0, cloud_guard=False,
)  # fmt: skip
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


@pytest.mark.parametrize("case", [(2.3, 1.7, 0.6), (-1.4, 0.8, -0.3)])
def test_a_chunked_fit_of_one_window_ends_as_exact_as_one_solve(b5, fixed, case):
    """Across bands each chunk carries its own content's offset, and the global fit of four
    chunks was 0.04-0.07 px from the single solve of the 320 px crop (B5 against B4); the
    overlap fits the central window, where the fit is refined as a single solve's last level:
    within 0.005 px of it, and as exact (differential)."""
    grid = fixed.odc.geobox
    truth = rigid(*case, grid)
    moving = misregister(b5, truth, grid)
    chunked = xr_coregix.register(moving, fixed, split_factor=2)
    single = xr_coregix.register(moving, fixed)
    assert displacement_error(chunked, single, grid)[0] < 0.005
    clean = xr_coregix.register(inner(b5, 32), fixed, split_factor=2)
    estimate = as_solved(clean).inverse().compose(as_solved(chunked))  # see test_accuracy
    assert displacement_error(estimate, truth, grid)[0] < 0.04
    assert chunked.diagnostics.chunks  # still the chunked fit's diagnostics


def moved(fit: RigidTransform, east: float) -> RigidTransform:
    """``fit`` moving every pixel ``east`` CRS units further east."""
    x, y = fit.translation
    return replace(fit, translation=(x + east, y))


def test_a_refinement_that_moves_the_fit_far_is_not_taken(b5, fixed, monkeypatch):
    """The chunks' consensus keeps the ground when clouds lead part of a scene: a refinement
    that would move it by more than REFINE_LIMIT solve pixels is left out; one within it is
    taken, and the layer check is made on it."""
    grid = fixed.odc.geobox
    moving = misregister(b5, rigid(2.3, 1.7, 0.6, grid), grid)
    monkeypatch.setattr(central, "refine", lambda *a, **k: None)
    unrefined = xr_coregix.register(moving, fixed, split_factor=2)
    far = moved(unrefined, 3.0 * 30)
    monkeypatch.setattr(central, "refine", lambda *a, **k: far)
    assert xr_coregix.register(moving, fixed, split_factor=2) == unrefined
    near = moved(unrefined, 0.5 * 30)
    monkeypatch.setattr(central, "refine", lambda *a, **k: near)
    taken = xr_coregix.register(moving, fixed, split_factor=2, on_failure="warn")
    assert taken == near  # and checked: half a pixel off the ground, it moves back
    assert not taken.diagnostics.reliable and taken.diagnostics.layer_shifts[1][0] < -0.3


def test_an_overlap_larger_than_the_window_is_not_refined(b5, fixed, monkeypatch):
    """Its centre alone would give the rotation less well than the chunks' spread. Without the
    guard no fit is refined (nothing would check it) and nothing is read for the window."""

    def fail(*args, **kwargs):
        raise AssertionError("called")

    monkeypatch.setattr(central, "LAYER_WINDOW_PIXELS", 128 * 128)
    monkeypatch.setattr(central, "refine", fail)
    grid = fixed.odc.geobox
    moving = misregister(b5, rigid(2.3, 1.7, 0.6, grid), grid)
    guarded = xr_coregix.register(moving, fixed, split_factor=2)
    assert guarded.diagnostics.layer_shifts is not None  # checked on the 128 px window
    monkeypatch.setattr(central, "solve_images", fail)
    monkeypatch.setattr(central, "LAYER_WINDOW_PIXELS", 1024 * 1024)  # the whole overlap
    fit = xr_coregix.register(moving, fixed, split_factor=2, cloud_guard=False)
    assert fit.diagnostics.layer_shifts is None


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
    moving[:, :] = np.nan  # the left half has no data: one chunk of 2
    moving[:, 170:] = misregister(b4, rigid(0.5, 0.5, 0.0, grid), grid)[:, 170:]
    with pytest.raises(RegistrationError, match=r"use split_factor=0, one solve over the whole"):
        xr_coregix.register(moving, fixed, split_factor=1)


def test_chunked_fit_serialises_with_its_chunks(b4, fixed):
    grid = fixed.odc.geobox
    fit = xr_coregix.register(misregister(b4, rigid(1, 1, 0.2, grid), grid), fixed, split_factor=1)
    back = RigidTransform.from_json(fit.to_json())
    assert back == fit and back.diagnostics == fit.diagnostics
    assert "2/2 chunks, 50 anchors" in repr(fit)


def test_split_factor_derived_from_dask_input():
    from odc.geo.xr import xr_coords

    def lazy(size, chunk):
        grid = GeoBox((size, size), Affine(10, 0, 0, 0, -10, 0), "EPSG:32616")
        data = dsa.zeros((size, size), chunks=chunk, dtype=np.uint16)
        return xr.DataArray(data, dims=("y", "x"), coords=xr_coords(grid, dims=("y", "x")))

    def derived(moving, fixed):
        problem = Problem.build(moving, fixed, OPTIONS)
        return derive_split_factor(problem)

    assert derived(lazy(8192, 1024), lazy(8192, 1024)) == 6  # 64 chunks of 1024 x 1024
    assert derived(lazy(2048, 512), lazy(2048, 512)) == 0  # up to 2048 x 2048: one solve
    assert derived(lazy(2560, 512), lazy(2560, 512)) == 3  # beyond: 8 chunks of 1280 x 640
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


def test_a_large_plan_solves_one_chunk_a_cell_spread_over_the_overlap(b8):
    """split_factor=6 plans 64 chunks; nine are solved, one in each cell of a 3 x 3 grid over
    the overlap, and their spread still holds the rotation."""
    fixed = inner(b8, 32)
    grid = fixed.odc.geobox
    truth = rigid(2.3, -1.7, 0.6, grid)
    fit = xr_coregix.register(misregister(b8, truth, grid), fixed, split_factor=6)
    chunks = fit.diagnostics.chunks
    assert fit.diagnostics.split_factor == 6 and len(chunks) == MAX_CHUNKS
    cells = set()
    for c in chunks:
        x, y = (c.bounds[0] + c.bounds[2]) / 2, (c.bounds[1] + c.bounds[3]) / 2
        col, row = ~grid.affine * (x, y)
        cells.add((int(3 * row / grid.shape[0]), int(3 * col / grid.shape[1])))
    assert len(cells) == 9
    assert displacement_error(fit, truth, grid)[0] < 0.03


def test_the_chosen_chunk_of_a_cell_is_its_clear_structured_one():
    """An 8 x 8 plan over a 600 x 600 overlap (2 or 3 chunks a side in each cell of the 3 x 3
    grid): chunks are textured, flat, nodata, or textured with a cloud hole, in turn. Every
    cell's choice is textured, and a fully clear one wherever the cell has one."""
    rng = np.random.default_rng(0)
    values = np.zeros((300, 300), np.float32)  # the sample: every 2nd pixel of the overlap
    valid = np.ones(values.shape, bool)
    plan = plan_chunks((600, 600), 6, 0.1)
    kinds, cells = {}, {}
    for index, (_, _, cr, cc) in enumerate(plan):
        rows, cols = slice(cr.start // 2, cr.stop // 2), slice(cc.start // 2, cc.stop // 2)
        kind = (index // 8 + index % 8) % 4  # 0 textured, 1 flat, 2 nodata, 3 cloud hole
        if kind in (0, 3):
            values[rows, cols] = rng.normal(0, 100, values[rows, cols].shape)
        if kind == 2:
            valid[rows, cols] = False
        if kind == 3:
            valid[rows, cols][5:30, 5:30] = False
        kinds[index] = kind
        cell = tuple(int(3 * (c.start + c.stop) / 2 / 600) for c in (cr, cc))
        cells.setdefault(cell, []).append(index)
    box = GeoBox((300, 300), Affine(20, 0, 0, 0, -20, 0), "EPSG:32616")
    chosen = chosen_chunks(plan, (600, 600), SolveImage(values, valid, box), 2)
    assert len(chosen) == 9 == len(cells)
    for members in cells.values():
        (pick,) = set(members) & set(chosen)
        wanted = 0 if any(kinds[i] == 0 for i in members) else 3
        assert kinds[pick] == wanted


def test_a_chunk_on_no_minimum_is_set_aside(b4, fixed, monkeypatch):
    """A chunk whose metric does not curve upwards about its fit is skipped, as a single solve
    with that evidence is refused: here the solve of the chunk whose window holds the overlap's
    top left corner is reported flat, and the global fit rests on the other three."""
    from dataclasses import replace

    from xr_coregix.core.checks import NO_MINIMUM
    from xr_coregix.xr import chunked

    grid = fixed.odc.geobox
    corner = grid.affine * (0.5, 0.5)
    truth = rigid(1.1, -0.8, 0.3, grid)
    solve_window = chunked.solve_window

    def flat_in_the_corner(window, spec):
        fit = solve_window(window, spec)
        left, bottom, right, top = window.fixed_box.boundingbox
        if left <= corner[0] <= right and bottom <= corner[1] <= top:
            return fit.with_diagnostics(replace(fit.diagnostics, metric_curved=False))
        return fit

    monkeypatch.setattr(chunked, "solve_window", flat_in_the_corner)
    fit = xr_coregix.register(misregister(b4, truth, grid), fixed, split_factor=2)
    chunks = fit.diagnostics.chunks
    assert [c.status for c in chunks] == ["skipped", "ok", "ok", "ok"], chunks
    assert chunks[0].reason == NO_MINIMUM
    assert displacement_error(fit, truth, grid)[0] < 0.05
