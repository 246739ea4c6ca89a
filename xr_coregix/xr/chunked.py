"""Chunked registration: local solves as dask tasks, anchors, and one robust global fit."""

from __future__ import annotations

import math
import os
from dataclasses import replace

import dask
import numpy as np
from odc.geo.geobox import GeoBox

from ..core.anchors import RobustFit, fit_rigid_robust, lattice, plan_chunks
from ..core.checks import NO_MINIMUM, metric_got_worse, search_problems
from ..core.consensus import Layer, choose_layer, find_layers
from ..core.images import SolveImage
from ..core.levels import SolverSettings
from ..core.precision import chunked_precision, rotation_error, rotation_supported
from ..core.proxy import edge_proxy
from ..core.search import global_search, trusted
from ..core.transform import ChunkResult, Diagnostics, RigidTransform
from ..errors import (
    InsufficientValidDataError,
    NoOverlapError,
    NoStructureError,
    RegistrationError,
)
from .problem import Problem, SolveSpec, Window, pixel_size, solve_image, solve_window

ANCHORS_PER_SIDE = 5
# Most chunks solved. A larger plan is sampled: the chunks are binned into a 3 x 3 grid over the
# overlap by their centres, and each cell solves its best chunk (clear and structured, judged
# on the overlap's sample): the cost stops growing with the raster, and the chosen chunks still
# span the overlap, which is what constrains the rotation.
MAX_CHUNKS = 9
SAMPLE_CELLS = 3
AGREE_PIXELS = 1.0  # a chunk agrees with a layer when its anchors lie this close (RMS)
OVERLAP = 0.1  # each chunk's window reaches this share of its size into its neighbours
LOCAL_BUDGET_PIXELS = 32_000_000  # window pixels (fixed + moving) solved at once locally
# A chunk's last level samples no more than the others, and each level solves on at most
# 1024 x 1024 central pixels: the global fit averages many chunks and takes its rotation from
# their spread, so each chunk needs a precise shift more than a precise rotation (its rigid
# stage starts at half the resolution). A chunk filters its images for ITK's gradients on levels
# up to 512 kpx and on its last level (see SolverSettings.gradient_filter_pixels).
CHUNK_SETTINGS = SolverSettings(
    rigid_shrink=(2, 1),
    final_samples=SolverSettings().max_samples,
    max_level_pixels=1024 * 1024,
    min_step=3e-3,
    gradient_filter_pixels=1 << 19,
    test_rotation=False,
)


def solve_chunk(
    index: int, core: GeoBox, center: tuple[float, float], window: Window, spec: SolveSpec
) -> tuple[ChunkResult, RigidTransform | None]:
    """One chunk's solve, run as a dask task: its result, and its fit when it has one.

    ``core`` is the chunk's own area (its anchors are sampled there); ``window`` covers it with
    an overlap. Translations are reported about ``center``.
    """
    bounds = tuple(float(v) for v in core.boundingbox)
    try:
        fit = solve_window(window, spec)
    except (InsufficientValidDataError, NoOverlapError, NoStructureError, RegistrationError) as err:
        return ChunkResult(index, bounds, "skipped", str(err)), None
    diag = fit.diagnostics
    doubts = search_problems(diag)
    if doubts:
        return ChunkResult(index, bounds, "skipped", doubts[0]), None
    if metric_got_worse(fit, spec.shift):
        reason = (
            "the solve made the metric worse "
            f"({diag.metric_before:.4f} -> {diag.metric_after:.4f}): too little structure, or "
            "a diverged solve"
        )
        return ChunkResult(index, bounds, "skipped", reason), None
    if diag.metric_curved is False:  # as a single solve would be refused for it
        return ChunkResult(index, bounds, "skipped", NO_MINIMUM), None
    about = RigidTransform.from_matrix(fit.matrix, center, fit.crs)
    moving_cloud, fixed_cloud = diag.cloud_excluded
    result = ChunkResult(
        index,
        bounds,
        "ok",
        rotation=fit.rotation,
        translation=about.translation,
        clear_share=(1 - moving_cloud) * (1 - fixed_cloud),
    )
    return result, fit


def _layer_words(layer: Layer, center: np.ndarray, pixel: float) -> str:
    dx, dy = layer.shift(center) / pixel
    return (
        f"{len(layer.members)} chunks ({layer.clear} clear) move the centre by "
        f"({dx:+.2f}, {dy:+.2f}) px (x east, y north)"
    )


def _ground_layer(
    results: list[ChunkResult],
    src: np.ndarray,
    dst: np.ndarray,
    good: list[int],
    pixel: float,
    center: np.ndarray,
) -> list[ChunkResult]:
    """The results with every solved chunk outside the ground layer rejected.

    Raises
    ------
    RegistrationError
        When the chunks form two layers that the clear chunks do not tell apart.
    """
    clear = np.array([results[i].clear_share for i in good])
    first, second = find_layers(src, dst, clear, AGREE_PIXELS * pixel)
    chosen = choose_layer(first, second)
    if chosen is None:
        raise RegistrationError(
            "the chunks form two coherent layers that the clear chunks cannot tell apart: "
            f"{_layer_words(first, center, pixel)}; {_layer_words(second, center, pixel)}. One "
            "is the ground, the other clouds or changed ground displaced between the rasters: "
            "pass a cloud mask (moving_mask=, fixed_mask=), and keep the cloud guard on"
        )
    out = list(results)
    for n, i in enumerate(good):
        if n in chosen.members:
            continue
        moved = src[n] @ chosen.matrix[:, :2].T + chosen.matrix[:, 2]
        apart = float(np.sqrt(np.mean(np.sum((moved - dst[n]) ** 2, axis=-1)))) / pixel
        where = (
            "a second layer (clouds or changed ground)"
            if second and n in second.members
            else ("no layer (a diverged solve)")
        )
        out[i] = replace(
            results[i],
            status="rejected",
            reason=f"{apart:.2f} px from the ground layer, in {where}",
        )
    return out


def _solve_chunks(
    problem: Problem, plan: list[tuple[int, tuple[slice, ...]]], center: tuple[float, float]
) -> tuple[list[ChunkResult], list[RigidTransform | None]]:
    """The planned chunks (index, windows) solved, as dask tasks in batches that bound the
    memory."""
    rows, cols = problem.overlap
    spec = replace(problem.spec, settings=CHUNK_SETTINGS)
    tasks, sizes = [], []
    for index, (wr, wc, cr, cc) in plan:
        window = problem.window(_offset(wr, rows), _offset(wc, cols))
        sizes.append(window.fixed.size + window.moving.size)
        core = problem.fixed_box[_offset(cr, rows), _offset(cc, cols)]
        tasks.append(dask.delayed(solve_chunk, pure=True)(index, core, center, window, spec))
    batch = _batch_size(max(sizes))
    solved = [r for i in range(0, len(tasks), batch) for r in dask.compute(*tasks[i : i + batch])]
    return [r for r, _ in solved], [f for _, f in solved]


def _too_few(results: list[ChunkResult], needed: int, split_factor: int) -> RegistrationError:
    good = sum(r.status == "ok" for r in results)
    reasons = "; ".join(f"chunk {r.index}: {r.reason}" for r in results if r.status != "ok")
    smaller = (
        "split_factor=0, one solve over the whole overlap"
        if split_factor <= 1
        else f"a smaller split_factor than {split_factor}, for larger chunks"
    )
    return RegistrationError(
        f"only {good} of {len(results)} chunks could be solved (at least {needed} needed): "
        f"use {smaller}. {reasons}"
    )


def sample_images(problem: Problem, sample: Window) -> list[SolveImage]:
    """The fixed and moving solve images of ``sample`` (:meth:`Problem.sample`: every few
    pixels of both bands, with their masks and the cloud guard)."""
    spec = problem.spec
    images = []
    for band, box, own, mask, nodata, exclusion in (
        (sample.fixed, sample.fixed_box, problem.fixed_box, sample.fixed_mask,
         spec.fixed_nodata, spec.fixed_exclusion),
        (sample.moving, sample.moving_box, problem.moving_box, sample.moving_mask,
         spec.moving_nodata, spec.moving_exclusion),
    ):  # fmt: skip
        step = pixel_size(box) / pixel_size(own)
        coarse = replace(exclusion, radius=math.ceil(exclusion.radius / step))
        masked = None if mask is None else np.asarray(mask.values)
        values = np.asarray(band.values)
        image, _ = solve_image(values, box, nodata, 1, spec.edge_proxy, masked, coarse, 2)
        images.append(image)
    return images


def following_the_search(problem: Problem, images: list[SolveImage]) -> Problem:
    """``problem`` with its moving windows moved by the whole overlap's global search.

    A chunk's own search reaches a quarter of the chunk; the whole overlap's reaches a quarter
    of the overlap. It runs on the sample's solve ``images`` (:func:`sample_images`), and when
    it finds one clear match every chunk's moving window is read around where that match puts
    its ground, and searched from there. Otherwise the problem is returned as it is, and the
    chunks search on their own.
    """
    search = global_search(*images)
    if search is None or not trusted(search):
        return problem
    return replace(problem, spec=replace(problem.spec, shift=search.shift))


def _structure(image: SolveImage, rows: slice, cols: slice) -> float:
    """How much a chunk has to register, from the sample's fixed image over the chunk's core
    (``rows``, ``cols`` in sample pixels): the sum of the edge strength over its clear pixels,
    so a cloudy, flat or nodata chunk scores low."""
    values = np.asarray(image.values[rows, cols], dtype=np.float64)
    valid = image.valid[rows, cols]
    if not valid.any():
        return 0.0
    edges, inside = edge_proxy(values, valid)
    return float(edges.sum(where=inside))


def chosen_chunks(
    plan: list[tuple[slice, ...]], shape: tuple[int, int], image: SolveImage, step: int
) -> list[int]:
    """Indices of the chunks of ``plan`` (over an overlap of ``shape`` pixels) to solve: all of
    them up to :data:`MAX_CHUNKS`; else the best-structured chunk (:func:`_structure`, on the
    sample's fixed ``image``, every ``step``-th pixel of the overlap) of each cell of a
    :data:`SAMPLE_CELLS` x :data:`SAMPLE_CELLS` grid over the overlap, a chunk belonging to the
    cell that holds its centre."""
    if len(plan) <= MAX_CHUNKS:
        return list(range(len(plan)))
    best: dict[tuple[int, int], tuple[float, int]] = {}
    for index, (_, _, cr, cc) in enumerate(plan):
        cell = tuple(
            min(SAMPLE_CELLS - 1, int(SAMPLE_CELLS * (c.start + c.stop) / 2 / n))
            for c, n in ((cr, shape[0]), (cc, shape[1]))
        )
        on_sample = tuple(slice(c.start // step, -(-c.stop // step)) for c in (cr, cc))
        score = _structure(image, *on_sample)
        if cell not in best or score > best[cell][0]:
            best[cell] = (score, index)
    return sorted(index for _, index in best.values())


def register_chunked(
    problem: Problem, split_factor: int, sample: Window | None = None
) -> RigidTransform:
    """Solve ``2**split_factor`` overlapping chunks of the overlap (at most :data:`MAX_CHUNKS`
    of them, chosen by :func:`chosen_chunks`) and fit one rigid transform to the anchors of the
    chunks in the ground layer (see :mod:`xr_coregix.core.consensus`).

    Raises
    ------
    RegistrationError
        When too few chunks could be solved, or the chunks form two layers that the clear
        chunks cannot tell apart.
    """
    sample = sample or problem.sample()
    images = sample_images(problem, sample)
    problem = following_the_search(problem, images)
    rows, cols = problem.overlap
    overlap_box = problem.fixed_box[rows, cols]
    center = tuple(overlap_box.affine @ (overlap_box.shape[1] / 2, overlap_box.shape[0] / 2))
    pixel = pixel_size(problem.fixed_box)
    shape = overlap_box.shape
    plan = plan_chunks(shape, split_factor, OVERLAP)
    step = round(pixel_size(sample.fixed_box) / pixel_size(problem.fixed_box))
    chosen = chosen_chunks(plan, shape, images[0], step)
    results, fits = _solve_chunks(problem, [(i, plan[i]) for i in chosen], center)
    needed = max(2, len(results) // 4)
    good = [i for i, r in enumerate(results) if r.status == "ok"]
    if len(good) < needed:
        raise _too_few(results, needed, split_factor)
    src = np.stack([lattice(results[i].bounds, ANCHORS_PER_SIDE) for i in good])
    dst = np.stack([np.c_[fits[i](*p.T)] for i, p in zip(good, src, strict=True)])
    results = _ground_layer(results, src, dst, good, pixel, np.asarray(center))
    kept = [n for n, i in enumerate(good) if results[i].status == "ok"]
    if len(kept) < needed:
        raise _too_few(results, needed, split_factor)
    robust = fit_rigid_robust(
        src[kept].reshape(-1, 2),
        dst[kept].reshape(-1, 2),
        center=center,
        crs=problem.fixed_box.crs,
        floor=0.05 * pixel,
    )
    per = ANCHORS_PER_SIDE**2
    for k, n in enumerate(kept):
        anchors = tuple(
            (float(p[0]), float(p[1]), float(q[0]), float(q[1]))
            for p, q in zip(src[n], dst[n], strict=True)
        )
        inliers = tuple(bool(v) for v in robust.inliers[k * per : (k + 1) * per])
        results[good[n]] = replace(results[good[n]], anchors=anchors, inliers=inliers)
    local = [fits[good[n]].diagnostics for n in kept]
    transform, rotation = _rotation_tested(robust, src[kept], dst[kept], pixel)
    diagnostics = Diagnostics(
        metric_before=float(np.median([d.metric_before for d in local])),
        metric_after=float(np.median([d.metric_after for d in local])),
        valid_fraction=float(np.median([d.valid_fraction for d in local])),
        cloud_excluded=tuple(np.median([d.cloud_excluded for d in local], axis=0).tolist()),
        solve_resolution=local[0].solve_resolution,
        moving_resolution=local[0].moving_resolution,
        solve_shape=local[0].solve_shape,
        pixel_size=pixel,
        edge_proxy=problem.spec.edge_proxy,
        stages=local[0].stages,
        split_factor=split_factor,
        chunks=tuple(results),
        anchor_rmse=robust.rmse / pixel,
        shift_precision=_precision(transform, robust, src[kept], dst[kept], local, pixel),
        rotation_error=rotation[0],
        rotation_left_out=rotation[1],
    )
    return transform.with_diagnostics(diagnostics)


def _offsets(
    transform: RigidTransform, robust: RobustFit, src: np.ndarray, dst: np.ndarray
) -> tuple[list[int], list[np.ndarray], np.ndarray]:
    """The chunks with anchors the robust fit kept (their positions in ``src``, ``dst``: chunks x
    anchors x 2), those anchors, and each chunk's mean residual of them under ``transform``
    (CRS units)."""
    keep = robust.inliers.reshape(len(src), -1)
    chunks = [n for n in range(len(src)) if keep[n].any()]
    anchors = [src[n][keep[n]] for n in chunks]
    offsets = np.array(
        [np.mean(np.c_[transform(*a.T)] - dst[n][keep[n]], axis=0) for n, a in
         zip(chunks, anchors, strict=True)]
    )  # fmt: skip
    return chunks, anchors, offsets


def _rotation_tested(
    robust: RobustFit, src: np.ndarray, dst: np.ndarray, pixel: float
) -> tuple[RigidTransform, tuple[float | None, float | None]]:
    """The robust fit, without its rotation when that does not stand out of the chunks' spread
    (:func:`~xr_coregix.core.precision.rotation_error` of their offsets, four chunks at least;
    :meth:`RigidTransform.without_rotation`), and the rotation's error and the rotation
    left out (else None), radians."""
    fit = robust.transform
    _, anchors, offsets = _offsets(fit, robust, src, dst)
    centres = np.array([a.mean(axis=0) for a in anchors]) - np.asarray(fit.center)
    error = rotation_error(centres / pixel, offsets / pixel)
    if rotation_supported(fit.rotation, error):
        return fit, (error, None)
    return fit.without_rotation(), (error, fit.rotation)


def _precision(
    transform: RigidTransform,
    robust: RobustFit,
    src: np.ndarray,
    dst: np.ndarray,
    local: list[Diagnostics],
    pixel: float,
) -> tuple[float, float] | None:
    """The standard error of the global fit ``transform``'s translation in reference pixels
    (:func:`~xr_coregix.core.precision.chunked_precision`), from the kept chunks' anchors
    (``src``, ``dst``: chunks x anchors x 2), the robust fit's inliers among them, and each
    chunk's ``local`` diagnostics."""
    chunks, anchors, offsets = _offsets(transform, robust, src, dst)
    errors = [local[n].shift_precision for n in chunks]
    return chunked_precision(anchors, offsets / pixel, errors, transform.center)


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
