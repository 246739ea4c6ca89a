"""A fit refined or checked on its images: the rigid stage's rotation tested on local windows,
the layer check's refinements, and the last-level refinement of a fit made elsewhere (a
chunked fit's global one). Each works on :mod:`xr_coregix.core.levels`' ITK levels, one ITK
thread at a time.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial

import numpy as np
import SimpleITK as sitk

from . import precision
from .checks import layer_allowance
from .images import SolveImage
from .levels import (
    FINAL_START,
    Frame,
    Level,
    SolverSettings,
    build_levels,
    descend,
    frame_of,
    refined_translation,
    registration_method,
    single_threaded_itk,
    window_level,
)
from .transform import RigidTransform

LAYER_MIN_PIXELS = 4096  # fewest clear-side fixed pixels the layer check solves on
LAYER_MIN_STEP = 0.01  # the layer check's last step, solve pixels: it looks for tenths
# The layer check refines on a central window of at most this many pixels, at full resolution
# with a filtered gradient: over a whole 2048 x 2048 px solve ITK's set-up of each refinement
# cost 7 % of the solve; at half resolution, or without the filter, its moves on clear
# cross-band pairs were noisier (up to 0.30 px against 0.18, the threshold being 0.3), and on a
# 512 x 512 px window it refused two clear Sentinel-2 pairs (B04 against B08, B8A against B04).
LAYER_WINDOW_PIXELS = 1 << 20
# The rigid stage's rotation is kept when it stands out of the spread of local shifts
# (:func:`xr_coregix.core.precision.rotation_error`): translations alone, refined about the fit
# on LOCAL_WINDOWS x LOCAL_WINDOWS windows of the last level but one (the last when the windows
# would be narrower than LOCAL_MIN_SIDE pixels there), each on at most LOCAL_SAMPLES samples and
# at least LOCAL_MIN_VALID valid fixed pixels. Half resolution: the scatter that decides is the
# content's (tenths of a pixel across bands), and on a 2048 x 2048 px pair the windows cost
# 0.37 s at half resolution against 1.0 s at full.
LOCAL_WINDOWS = 3
LOCAL_MIN_SIDE = 64
LOCAL_MIN_VALID = 1024
LOCAL_SAMPLES = 10_000
Refinement = Callable[[], "tuple[float, float] | None"]  # one of the layer check's, not yet run


def rotation_test(
    levels: dict[int, Level],
    settings: SolverSettings,
    frame: Frame,
    euler: sitk.Euler2DTransform,
    threads: int = 1,
) -> tuple[float | None, float | None, tuple[float, float] | None]:
    """The rotation's standard error (radians) from the spread of local shifts about the fit
    (:func:`_local_shifts` on the last level but one, or the last when its windows would be
    too narrow); the rotation left out: when it does not stand out of that error
    (:func:`~xr_coregix.core.precision.rotation_supported`), ``euler`` loses it, turning no
    more about the centre of the area, whose displacement is kept; else None; and the shift's
    standard error (x, y; solve pixels) from the same spread
    (:func:`~xr_coregix.core.precision.local_spread`; None for too few windows)."""
    factor = next(
        (
            f
            for f in (2, 1)
            if f in levels and min(levels[f].fixed.GetSize()) >= LOCAL_MIN_SIDE * LOCAL_WINDOWS
        ),
        1,
    )
    points, shifts = _local_shifts(levels[factor], factor, frame, settings, euler, threads)
    error = precision.rotation_error(points, shifts)
    spread = precision.local_spread(points, shifts)
    if precision.rotation_supported(euler.GetAngle(), error):
        return error, None, spread
    left_out = frame.fit_from_itk(euler, None, None).rotation
    euler.SetAngle(0.0)
    return error, left_out, spread


def _local_shifts(
    level: Level,
    factor: int,
    frame: Frame,
    settings: SolverSettings,
    euler: sitk.Euler2DTransform,
    threads: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """The centres (solve pixels from the area's centre, x and y of the frame) of the windows
    of a ``LOCAL_WINDOWS`` x ``LOCAL_WINDOWS`` grid over ``level`` (of ``factor``) that hold
    ``LOCAL_MIN_VALID`` valid fixed pixels, and the translation (solve pixels) that moves the
    fit to the metric's optimum on each, refined from it; ``threads`` 2: two windows at a time
    (each alone in its thread, so the numbers are the same)."""
    width, height = level.fixed.GetSize()
    spacing = frame.pixel / frame.radius
    windows = []
    for row, col in itertools.product(range(LOCAL_WINDOWS), repeat=2):
        xs = (col * width // LOCAL_WINDOWS, (col + 1) * width // LOCAL_WINDOWS)
        ys = (row * height // LOCAL_WINDOWS, (row + 1) * height // LOCAL_WINDOWS)
        window = window_level(level, xs, ys, euler)
        if window is not None and window.fixed_valid >= LOCAL_MIN_VALID:
            centre = ((xs[0] + xs[1]) / 2 - 0.5, (ys[0] + ys[1]) / 2 - 0.5)
            windows.append((level.fixed.TransformContinuousIndexToPhysicalPoint(centre), window))
    steps = (0.5 * factor * spacing, LAYER_MIN_STEP * factor * spacing)
    refine = partial(refined_translation, euler=euler, settings=settings, samples=LOCAL_SAMPLES,
                     steps=steps)  # fmt: skip
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        offsets = list(pool.map(refine, [window for _, window in windows]))
    found = [(p, o) for (p, _), o in zip(windows, offsets, strict=True) if o is not None]
    points = np.array([(x / spacing, y / spacing) for (x, y), _ in found]).reshape(-1, 2)
    shifts = np.array([(-ox / spacing, -oy / spacing) for _, (ox, oy) in found]).reshape(-1, 2)
    return points, shifts


def layer_refinements(
    fixed: SolveImage,
    moving: SolveImage,
    frame: Frame,
    settings: SolverSettings,
    euler: sitk.Euler2DTransform,
) -> tuple[Refinement, Refinement] | None:
    """The layer check's two refinements of the fit (:func:`_refined_shift`), not yet run:
    without the fixed band's cloud side, and without the moving band's. None when either band
    has no clear side (no guard)."""
    fixed_clear, moving_clear = fixed.clear_side(), moving.clear_side()
    if fixed_clear is None or moving_clear is None:
        return None
    refine = partial(_refined_shift, frame=frame, settings=settings, euler=euler)
    return partial(refine, fixed_clear, moving), partial(refine, fixed, moving_clear)


def layer_check(
    fixed: SolveImage,
    moving: SolveImage,
    fit: RigidTransform,
    *,
    pixel_size: float,
    settings: SolverSettings | None = None,
) -> tuple[tuple[float, float] | None, tuple[float, float]] | None:
    """The layer check of a fit made elsewhere (a chunked fit's global one), on one window.

    Parameters
    ----------
    fixed, moving : SolveImage
        Both bands over the window (the fixed band's central window of at most
        ``LAYER_WINDOW_PIXELS`` is used), with their clear sides (:attr:`SolveImage.clear`).
    fit : RigidTransform
        The moving-to-reference fit.
    pixel_size : float
        The reference raster's pixel size, which the moves are reported in.
    settings : SolverSettings, optional
        Solver knobs (histogram bins, samples).

    Returns
    -------
    tuple or None
        As :attr:`Diagnostics.layer_shifts`: the moves (reference pixels, x east and y north)
        without the moving band's cloud side (None when not needed) and without the fixed
        band's; None without clear sides or evidence.
    """
    settings = settings or SolverSettings()
    frame = frame_of(fixed.geobox)
    euler = frame.itk_euler(fit)
    refinements = layer_refinements(fixed, moving, frame, settings, euler)
    if refinements is None:
        return None
    without_fixed, without_moving = refinements
    with single_threaded_itk():
        # the allowance without the fit's own error: a chunked fit's is the chunks' spread,
        # which clouds that lead some of them widen (the crop's B8 at split factor 1: 0.23 px)
        layers = layer_shifts(without_fixed(), None, without_moving)
    return None if layers is None else in_pixels(layers, frame.pixel / pixel_size)


def refine(
    fixed: SolveImage,
    moving: SolveImage,
    fit: RigidTransform,
    *,
    settings: SolverSettings | None = None,
) -> RigidTransform | None:
    """A fit made elsewhere (a chunked fit's global one) refined, rotation and translation, as
    a single solve's last level: at full resolution with the filtered gradient, on
    ``final_samples`` samples, from a step of ``FINAL_START`` pixels down to ``min_step``.

    Parameters
    ----------
    fixed, moving : SolveImage
        Both bands over the area to refine on (the fixed band's central window of at most
        ``LAYER_WINDOW_PIXELS`` is used).
    fit : RigidTransform
        The moving-to-reference fit.
    settings : SolverSettings, optional
        Solver knobs.

    Returns
    -------
    RigidTransform or None
        The refined fit, about ``fit``'s centre and with its diagnostics; None with fewer than
        ``LAYER_MIN_PIXELS`` valid fixed pixels, or when ITK fails.
    """
    settings = settings or SolverSettings()
    frame = frame_of(fixed.geobox)
    euler = frame.itk_euler(fit)
    with single_threaded_itk():
        level = Level.of(fixed, moving, frame, LAYER_WINDOW_PIXELS)
        if level.fixed_valid < LAYER_MIN_PIXELS:
            return None
        reg = registration_method(settings, level, euler, settings.final_samples, filtered=True)
        spacing = frame.pixel / frame.radius
        descend(reg, FINAL_START * spacing, settings.min_step * spacing, settings.iterations)
        try:
            reg.Execute(level.fixed, level.moving)
        except RuntimeError:  # ITK's own failures (too few samples left...): no refinement
            return None
    refined = frame.fit_from_itk(euler, fit.crs, None)
    return RigidTransform.from_matrix(refined.matrix, fit.center, fit.crs).with_diagnostics(
        fit.diagnostics
    )


def rotation_tested(
    fixed: SolveImage,
    moving: SolveImage,
    fit: RigidTransform,
    *,
    settings: SolverSettings | None = None,
) -> tuple[RigidTransform, float | None, float | None]:
    """A fit made elsewhere (a chunked fit refined on its whole overlap) with its rotation
    tested as a single solve's is: left out when it does not stand out of the spread of local
    shifts on ``LOCAL_WINDOWS`` x ``LOCAL_WINDOWS`` windows of the area.

    Parameters
    ----------
    fixed, moving : SolveImage
        Both bands over the area the fit was refined on (the whole overlap).
    fit : RigidTransform
        The chunked fit, as refined there.
    settings : SolverSettings, optional
        Histogram bins and iterations of the windows' solves.

    Returns
    -------
    tuple
        The fit (:meth:`RigidTransform.without_rotation` when its rotation was left out), the
        rotation's standard error and the rotation left out (None when kept), radians.
    """
    settings = settings or SolverSettings()
    frame = frame_of(fixed.geobox)
    euler = frame.itk_euler(fit)
    with single_threaded_itk():
        # the windows' level only (and full resolution, which every pyramid has)
        only = replace(settings, translation_shrink=(2,), rigid_shrink=(2,))
        levels, _ = build_levels(fixed, moving, frame, only)
        error, left_out, _ = rotation_test(levels, settings, frame, euler, threads=2)
    return (fit if left_out is None else fit.without_rotation()), error, left_out


def layer_shifts(
    without_fixed: tuple[float, float] | None,
    standard_error: tuple[float, float] | None,
    without_moving: Refinement,
) -> tuple[tuple[float, float] | None, tuple[float, float]] | None:
    """The layer check's moves (solve pixels, x and y of the CRS): how far the centre of the
    solve area moves from the fit when the moving band's cloud side is left out, and when the
    fixed band's is (:attr:`SolveImage.clear`). The fixed band's comes first; the moving band's
    is measured (``without_moving``) only when that one moves the fit beyond
    :func:`checks.layer_allowance`, else None. Each side in turn, not both at once: a band's
    brightest share may be ground that the metric needs (vegetation in near infrared), while
    clouds lead a fit through either band's copy of them. None when a refinement finds no
    evidence (:func:`_refined_shift`)."""
    if without_fixed is None:
        return None
    sigma = None if standard_error is None else math.hypot(*standard_error)
    if math.hypot(*without_fixed) <= layer_allowance(sigma):
        return None, without_fixed
    moved = without_moving()
    return None if moved is None else (moved, without_fixed)


def _refined_shift(
    fixed: SolveImage,
    moving: SolveImage,
    frame: Frame,
    settings: SolverSettings,
    euler: sitk.Euler2DTransform,
) -> tuple[float, float] | None:
    """The translation (solve pixels, x and y of the CRS) that moves the fit to the metric's
    optimum on these images, refined from the fit at full resolution on their central window of
    at most ``LAYER_WINDOW_PIXELS``, with a filtered gradient image as a single solve's last
    level. None with fewer than ``LAYER_MIN_PIXELS`` valid fixed pixels, or when ITK fails."""
    level = Level.of(fixed, moving, frame, LAYER_WINDOW_PIXELS)
    if level.fixed_valid < LAYER_MIN_PIXELS:
        return None
    spacing = frame.pixel / frame.radius
    steps = (0.5 * spacing, LAYER_MIN_STEP * spacing)
    offset = refined_translation(level, euler, settings, settings.max_samples, steps, filtered=True)
    if offset is None:  # ITK's own failures (too few samples left...): no evidence
        return None
    # ITK's translation takes reference points into the moving band: the fit moves them back
    return (-offset[0] / spacing, -offset[1] / spacing)


def in_pixels(
    shifts: tuple[tuple[float, float] | None, ...], scale: float
) -> tuple[tuple[float, float] | None, ...]:
    """Shifts in solve pixels as reference pixels (``scale``: a solve pixel in them)."""
    return tuple(None if s is None else (s[0] * scale, s[1] * scale) for s in shifts)
