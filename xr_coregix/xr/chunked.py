"""Chunked registration: local solves as dask tasks, anchors, and one robust global fit."""

from __future__ import annotations

import os
from dataclasses import replace

import dask
import numpy as np
import xarray as xr
from odc.geo.geobox import GeoBox

from ..core.anchors import fit_rigid_robust, lattice, plan_chunks
from ..core.checks import metric_improved
from ..core.solve import SolverSettings
from ..core.transform import ChunkResult, Diagnostics, RigidTransform
from ..errors import (
    InsufficientValidDataError,
    NoOverlapError,
    NoStructureError,
    RegistrationError,
)
from .problem import Problem, SolveSpec, pixel_size, solve_window

ANCHORS_PER_SIDE = 5
DIVERGED_PIXELS = 2.0  # a chunk farther than this from the chunks' consensus has diverged
OVERLAP = 0.1  # each chunk's window reaches this share of its size into its neighbours
LOCAL_BUDGET_PIXELS = 32_000_000  # window pixels (fixed + moving) solved at once locally
# A chunk's last level samples no more than the others, and each level solves on at most
# 1024 x 1024 central pixels: the global fit averages many chunks and takes its rotation from
# their spread, so each chunk needs a precise shift more than a precise rotation. Nor does a
# chunk filter its images for ITK's gradients (see SolverSettings.gradient_filter_pixels).
CHUNK_SETTINGS = SolverSettings(
    final_samples=SolverSettings().max_samples,
    max_level_pixels=1024 * 1024,
    min_step=1e-2,
    gradient_filter_pixels=1 << 18,
)


def solve_chunk(
    index: int,
    core: GeoBox,
    center: tuple[float, float],
    fixed: xr.DataArray,
    fixed_box: GeoBox,
    moving: xr.DataArray,
    moving_box: GeoBox,
    spec: SolveSpec,
) -> tuple[ChunkResult, RigidTransform | None]:
    """One chunk's solve, run as a dask task: its result, and its fit when it has one.

    ``core`` is the chunk's own area (its anchors are sampled there); ``fixed`` and
    ``moving`` cover it with an overlap. Translations are reported about ``center``.
    """
    bounds = tuple(float(v) for v in core.boundingbox)
    try:
        fit = solve_window(fixed, fixed_box, moving, moving_box, spec)
    except (InsufficientValidDataError, NoOverlapError, NoStructureError, RegistrationError) as err:
        return ChunkResult(index, bounds, "skipped", str(err)), None
    diag = fit.diagnostics
    if not metric_improved(diag):
        reason = (
            "the solve made the metric worse "
            f"({diag.metric_before:.4f} -> {diag.metric_after:.4f}): too little structure, or "
            "a diverged solve"
        )
        return ChunkResult(index, bounds, "skipped", reason), None
    about = RigidTransform.from_matrix(fit.matrix, center, fit.crs)
    result = ChunkResult(index, bounds, "ok", rotation=fit.rotation, translation=about.translation)
    return result, fit


def _reject_strays(
    results: list[ChunkResult],
    fits: list[RigidTransform | None],
    center: tuple[float, float],
    pixel: float,
) -> list[ChunkResult]:
    """Reject solved chunks whose transform, over their own area, strays from the median
    chunk transform by more than ``DIVERGED_PIXELS``: diverged solves. Chunk translations are
    about ``center``, so their medians make one transform."""
    good = [i for i, r in enumerate(results) if r.status == "ok"]
    if len(good) < 3:
        return results
    median = RigidTransform(
        float(np.median([results[i].rotation for i in good])),
        tuple(np.median([results[i].translation for i in good], axis=0)),
        center,
    )
    out = list(results)
    for i in good:
        left, bottom, right, top = results[i].bounds
        x = np.array([left, right, left, right])
        y = np.array([bottom, bottom, top, top])
        stray = float(np.hypot(*np.subtract(fits[i](x, y), median(x, y))).max()) / pixel
        if stray > DIVERGED_PIXELS:
            out[i] = replace(
                results[i], status="rejected", reason=f"diverged: {stray:.2f} px from the others"
            )
    return out


def register_chunked(problem: Problem, split_factor: int) -> RigidTransform:
    """Solve ``2**split_factor`` overlapping chunks of the overlap and fit one rigid transform.

    Raises
    ------
    RegistrationError
        When too few chunks could be solved.
    """
    rows, cols = problem.overlap
    shape = (rows.stop - rows.start, cols.stop - cols.start)
    overlap_box = problem.fixed_box[rows, cols]
    center = tuple(overlap_box.affine @ (shape[1] / 2, shape[0] / 2))
    pixel = pixel_size(problem.fixed_box)
    spec = replace(problem.spec, settings=CHUNK_SETTINGS)
    tasks, sizes = [], []
    for index, (wr, wc, cr, cc) in enumerate(plan_chunks(shape, split_factor, OVERLAP)):
        window = problem.window(_offset(wr, rows), _offset(wc, cols))
        sizes.append(window[0].size + window[2].size)
        core = problem.fixed_box[_offset(cr, rows), _offset(cc, cols)]
        task = dask.delayed(solve_chunk, pure=True)(index, core, center, *window, spec)
        tasks.append(task)
    batch = _batch_size(max(sizes))
    solved = [r for i in range(0, len(tasks), batch) for r in dask.compute(*tasks[i : i + batch])]
    fits = [f for _, f in solved]
    results = _reject_strays([r for r, _ in solved], fits, center, pixel)
    good = [i for i, r in enumerate(results) if r.status == "ok"]
    needed = max(2, len(results) // 4)
    if len(good) < needed:
        reasons = "; ".join(f"chunk {r.index}: {r.reason}" for r in results if r.status != "ok")
        raise RegistrationError(
            f"only {len(good)} of {len(results)} chunks could be solved (at least {needed} "
            f"needed): use a smaller split_factor than {split_factor}, for larger chunks. "
            f"{reasons}"
        )
    src = [lattice(results[i].bounds, ANCHORS_PER_SIDE) for i in good]
    dst = [np.c_[fits[i](*p.T)] for i, p in zip(good, src, strict=True)]
    robust = fit_rigid_robust(
        np.concatenate(src),
        np.concatenate(dst),
        center=center,
        crs=problem.fixed_box.crs,
        floor=0.05 * pixel,
    )
    per = ANCHORS_PER_SIDE**2
    for n, i in enumerate(good):
        anchors = tuple(
            (float(p[0]), float(p[1]), float(q[0]), float(q[1]))
            for p, q in zip(src[n], dst[n], strict=True)
        )
        inliers = tuple(bool(v) for v in robust.inliers[n * per : (n + 1) * per])
        results[i] = replace(results[i], anchors=anchors, inliers=inliers)
    local = [fits[i].diagnostics for i in good]
    diagnostics = Diagnostics(
        metric_before=float(np.median([d.metric_before for d in local])),
        metric_after=float(np.median([d.metric_after for d in local])),
        valid_fraction=float(np.median([d.valid_fraction for d in local])),
        solve_resolution=local[0].solve_resolution,
        solve_shape=local[0].solve_shape,
        pixel_size=pixel,
        edge_proxy=problem.spec.edge_proxy,
        stages=local[0].stages,
        reference_shape=tuple(problem.fixed_box.shape),
        reference_transform=tuple(problem.fixed_box.affine)[:6],
        reference_nodata=problem.spec.fixed_nodata,
        split_factor=split_factor,
        chunks=tuple(results),
        anchor_rmse=robust.rmse / pixel,
    )
    return robust.transform.with_diagnostics(diagnostics)


def _batch_size(window_pixels: int) -> int:
    """Chunk solves computed at once: every thread of a dask.distributed cluster (each worker
    has its own memory); on this machine one a core, within ``LOCAL_BUDGET_PIXELS`` of windows
    (a solve holds about 12 bytes a window pixel), so that large explicit chunks do not all
    sit in memory together."""
    try:
        from distributed import get_client

        return max(1, sum(get_client().nthreads().values()))
    except (ImportError, ValueError):
        cores = os.cpu_count() or 1
        return max(1, min(cores, LOCAL_BUDGET_PIXELS // max(1, window_pixels)))


def _offset(window: slice, base: slice) -> slice:
    """``window`` (relative to ``base``) in absolute pixels."""
    return slice(window.start + base.start, window.stop + base.start)
