"""SimpleITK registration of two georeferenced arrays: translation, then rigid, and the checks
of the fit (its precision, the rotation's test, the layer check).

The images become ITK levels in a normalised frame (:mod:`xr_coregix.core.levels`, which
explains why); the fit is then checked on them (:mod:`xr_coregix.core.refinements`).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import SimpleITK as sitk
from affine import Affine
from odc.geo.geobox import GeoBox

from ..errors import (
    InsufficientValidDataError,
    NoOverlapError,
    NoStructureError,
    RegistrationError,
)
from ..options import STAGES
from . import precision
from .images import SolveImage, to_itk
from .levels import (
    FINAL_START,
    MIN_SOLVE_PIXELS,
    Frame,
    Level,
    SolverSettings,
    build_levels,
    descend,
    frame_of,
    metric_value,
    registration_method,
    single_threaded_itk,
)
from .refinements import in_pixels, layer_refinements, layer_shifts, rotation_test
from .search import Search, global_search, trusted
from .transform import Diagnostics, RigidTransform, StageResult

METRIC_PIXELS = 250_000  # most pixels of the level the metric before/after is evaluated on


def _bbox(mask: np.ndarray) -> tuple[slice, slice] | None:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def _mutual_valid(fixed: SolveImage, moving_mask: sitk.Image) -> np.ndarray:
    """Fixed pixels valid in both rasters (moving validity looked up by nearest neighbour)."""
    ref = to_itk(fixed.valid.astype(np.uint8), fixed.geobox)
    on_fixed = sitk.Resample(moving_mask, ref, sitk.Transform(), sitk.sitkNearestNeighbor, 0)
    return fixed.valid & (sitk.GetArrayViewFromImage(on_fixed) > 0)


def _run_stage(
    name: str,
    transform: sitk.Transform,
    levels: dict[int, Level],
    settings: SolverSettings,
    frame: Frame,
    final: bool,
) -> StageResult:
    """Optimise ``transform`` in place over the stage's pyramid, coarse to fine.

    Each level starts with a step of half a pixel of that level (a full one for the first
    translation level, to reach far) and stops at a twentieth of a level pixel, except the
    finest, which runs down to ``settings.min_step``. ``final`` says this is the last stage,
    whose finest level samples more and starts at :data:`FINAL_START` instead. The result is
    reported in xr_coregix's direction and CRS units.
    """
    shrink = settings.translation_shrink if name == "translation" else settings.rigid_shrink
    spacing = frame.pixel / frame.radius
    for index, factor in enumerate(shrink):
        level = levels[factor]
        first = index == 0 and name == "translation"
        last = index == len(shrink) - 1
        samples = settings.final_samples if last and final else settings.max_samples
        filtered = last and final and settings.filter_last_level
        reg = registration_method(settings, level, transform, samples, filtered=filtered)
        start = FINAL_START if last and final and not first else 1.0 if first else 0.5
        min_step = settings.min_step if last else 0.05 * factor
        descend(reg, start * factor * spacing, min_step * spacing, settings.iterations)
        reg.Execute(level.fixed, level.moving)
    if name == "translation":
        euler = sitk.Euler2DTransform()
        euler.SetTranslation(transform.GetOffset())
    else:
        euler = transform
    fit = frame.fit_from_itk(euler, None, None)
    return StageResult(
        name=name,
        metric=float(reg.GetMetricValue()),
        iterations=int(reg.GetOptimizerIteration()),
        stop_condition=reg.GetOptimizerStopConditionDescription(),
        rotation=fit.rotation,
        translation=fit.translation,
    )


def _solve_stages(
    stages: tuple[str, ...],
    levels: dict[int, Level],
    settings: SolverSettings,
    frame: Frame,
    euler: sitk.Euler2DTransform,
    start: tuple[float, float],
) -> list[StageResult]:
    """Run the stages in order from the translation ``start`` (ITK's, in the frame), leaving
    the result in ``euler``."""
    results = []
    euler.SetTranslation(start)
    if "translation" in stages:
        translation = sitk.TranslationTransform(2, start)
        final = "rigid" not in stages
        results.append(_run_stage("translation", translation, levels, settings, frame, final))
        euler.SetTranslation(translation.GetOffset())
    if "rigid" in stages:
        results.append(_run_stage("rigid", euler, levels, settings, frame, True))
    return results


def solve(
    fixed: SolveImage,
    moving: SolveImage,
    *,
    stages: tuple[str, ...] = STAGES,
    min_valid_fraction: float = 0.01,
    edge_proxy: bool = True,
    pixel_size: float | None = None,
    settings: SolverSettings | None = None,
    start: tuple[float, float] = (0.0, 0.0),
    threads: int = 1,
) -> RigidTransform:
    """Register ``moving`` onto ``fixed`` and return the moving-to-reference transform.

    Parameters
    ----------
    fixed : SolveImage
        The reference band on the solve grid.
    moving : SolveImage
        The moving band on its own grid (same CRS as ``fixed``), ideally at a similar pixel size.
    stages : tuple of str
        ``"translation"`` and/or ``"rigid"``, run in that order.
    min_valid_fraction : float
        Smallest share of ``fixed``'s pixels that must be valid in both rasters.
    edge_proxy : bool
        Recorded in the diagnostics (the images are already proxies or raw values).
    pixel_size : float, optional
        The reference raster's pixel size, to report shifts in; default: the solve spacing.
    settings : SolverSettings, optional
        Solver knobs; defaults to :class:`SolverSettings`.
    start : tuple of float
        A coarse moving-to-reference translation (CRS units) known beforehand (a chunk of a
        chunked fit: the whole overlap's search): the area valid in both rasters, the metric
        "before" and the global search are taken there, and the MI stages start there unless
        the search finds better.
    threads : int
        2: the windows of the rotation's test two at a time, and the fit's precision beside the
        layer check's first refinement (one ITK thread each, so the numbers are the same), for
        a single solve that has both cores.

    Returns
    -------
    RigidTransform
        With :class:`Diagnostics`.

    Raises
    ------
    InsufficientValidDataError
        When fewer than ``min_valid_fraction`` of the fixed pixels are valid in both rasters.
    NoOverlapError
        When the mutual valid area is smaller than the solve needs.
    """
    settings = settings or SolverSettings()
    if not stages or tuple(s for s in STAGES if s in stages) != tuple(stages):
        raise ValueError(
            f"stages must be 'translation', 'rigid' or both in that order; got {stages!r}"
        )
    if "rigid" not in stages and 1 not in settings.translation_shrink:
        settings = replace(settings, translation_shrink=(*settings.translation_shrink, 1))
    with single_threaded_itk():
        cropped, fraction = _mutual_area(fixed, moving, start, min_valid_fraction)
        _check_structure(cropped, moving)
        frame = frame_of(cropped.geobox)
        levels, settings = build_levels(cropped, moving, frame, settings)
        search = global_search(cropped, moving, start)
        before, after, results, euler, rotation = _optimise(
            stages,
            levels,
            settings,
            frame,
            cropped.values.size,
            start,
            _start(search, start, frame),
            threads,
        )
        standard_error, curved, layers = _checks(
            stages, levels, settings, frame, euler, (cropped, moving), threads
        )
    crop_box = cropped.geobox
    reference_pixel = float(pixel_size or frame.pixel)
    diagnostics = Diagnostics(
        metric_before=before,
        metric_after=after,
        valid_fraction=fraction,
        solve_resolution=(float(abs(crop_box.resolution.x)), float(abs(crop_box.resolution.y))),
        solve_shape=tuple(int(n) for n in crop_box.shape),
        moving_resolution=float(
            max(abs(moving.geobox.resolution.x), abs(moving.geobox.resolution.y))
        ),
        pixel_size=reference_pixel,
        edge_proxy=edge_proxy,
        stages=tuple(results),
        shift_precision=(
            None
            if standard_error is None
            else tuple(v * frame.pixel / reference_pixel for v in standard_error)
        ),
        metric_curved=curved,
        layer_shifts=None if layers is None else in_pixels(layers, frame.pixel / reference_pixel),
        rotation_error=rotation[0],
        rotation_left_out=rotation[1],
        local_precision=None
        if rotation[2] is None
        else in_pixels((rotation[2],), frame.pixel / reference_pixel)[0],
        **_search_fields(search),
    )
    return frame.fit_from_itk(euler, fixed.geobox.crs, diagnostics)


def _mutual_area(
    fixed: SolveImage, moving: SolveImage, start: tuple[float, float], min_valid_fraction: float
) -> tuple[SolveImage, float]:
    """The fixed image cropped to the bounding box of the pixels valid in both rasters (its
    validity: valid in both), and the share of the fixed image they make up.

    The moving band's validity is taken where ``start`` puts its ground (a chunk's moving
    window is read there): the area valid in both is that of the pair as the MI stages start it.
    """
    placed = GeoBox(moving.geobox.shape, Affine.translation(*start) @ moving.geobox.affine,
                    moving.geobox.crs)  # fmt: skip
    mutual = _mutual_valid(fixed, to_itk(moving.valid.astype(np.uint8), placed))
    fraction = float(mutual.mean()) if mutual.size else 0.0
    if fraction < min_valid_fraction or not mutual.any():
        raise InsufficientValidDataError(
            f"only {fraction:.2%} of the overlap is valid and clear in both rasters, below "
            f"min_valid_fraction={min_valid_fraction}: check moving_nodata/fixed_nodata, or lower "
            "min_valid_fraction if the valid area is known to be small"
        )
    rows, cols = _bbox(mutual)
    shape = (rows.stop - rows.start, cols.stop - cols.start)
    if min(shape) < MIN_SOLVE_PIXELS:
        raise NoOverlapError(
            f"the area valid in both rasters is {shape[0]} x {shape[1]} solve pixels, smaller "
            f"than the {MIN_SOLVE_PIXELS} x {MIN_SOLVE_PIXELS} a solve needs: use a finer "
            "solve_resolution or a larger overlap"
        )
    cropped = replace(fixed, valid=mutual).window(rows, cols)
    return cropped, fraction


def _check_structure(fixed: SolveImage, moving: SolveImage) -> None:
    """Refuse a band whose valid pixels are all equal (nothing to register)."""
    for name, image in (("fixed", fixed), ("moving", moving)):
        some = image.values.flat[np.argmax(image.valid)]  # a valid value, if any
        low = np.min(image.values, where=image.valid, initial=some)
        high = np.max(image.values, where=image.valid, initial=some)
        if not low < high:  # no valid pixel, or all of them equal
            raise NoStructureError(
                f"{name} has no structure to register: its valid pixels over the overlap "
                "are constant. Check its nodata value and band choice"
            )


def _optimise(
    stages: tuple[str, ...],
    levels: dict[int, Level],
    settings: SolverSettings,
    frame: Frame,
    size: int,
    given: tuple[float, float],
    start: tuple[float, float],
    threads: int = 1,
) -> tuple[float, float, list[StageResult], sitk.Euler2DTransform, tuple]:
    """The MI stages from ITK's translation ``start``: the metric at the ``given`` shift (CRS
    units) and at the end, on the finest level small enough to evaluate in full (the fixed
    image having ``size`` pixels at full resolution), the stages' results, the final
    transform, and the rotation's error and the rotation left out (:func:`rotation_test`, on
    ``threads``)."""
    metric_factor = min((f for f in levels if size / f**2 <= METRIC_PIXELS), default=None)
    metric_level = levels[metric_factor or max(levels)]
    euler = sitk.Euler2DTransform()  # centre (0, 0): the frame's centre
    try:
        before_at = sitk.Euler2DTransform()
        before_at.SetTranslation(_in_frame(given, frame))
        before = metric_value(metric_level, before_at, settings)
        results = _solve_stages(stages, levels, settings, frame, euler, start)
        tested = "rigid" in stages and settings.test_rotation
        rotation = rotation_test(levels, settings, frame, euler, threads) if tested else (None,) * 3
        after = metric_value(metric_level, euler, settings)
        if not np.isfinite(euler.GetParameters()).all():
            raise RuntimeError(f"the optimizer ended at {euler.GetParameters()}")
    except RuntimeError as err:  # ITK's own failures (degenerate histograms...)
        message = " ".join(str(err).split())[-300:]
        raise RegistrationError(f"SimpleITK could not solve this pair: {message}") from err
    return before, after, results, euler, rotation


def _shift_precision(
    stages: tuple[str, ...],
    levels: dict[int, Level],
    settings: SolverSettings,
    frame: Frame,
    euler: sitk.Euler2DTransform,
) -> tuple[tuple[float, float] | None, bool | None]:
    """The standard error (x, y) of the fit's shift in solve pixels, from the curvature of the
    metric about it at the last level (:mod:`xr_coregix.core.precision`), and whether the metric
    curves upwards there at all: (None, False) when it does not with either sample count (the
    fit sits on no minimum), (None, None) when ITK cannot evaluate it."""
    shrink = settings.rigid_shrink if "rigid" in stages else settings.translation_shrink
    level = levels[shrink[-1]]
    samples = precision.independent_samples(settings.final_samples, level.fixed_valid)
    for count in precision.SAMPLES:
        try:
            grid = _metric_grid(level, euler, settings, frame, count)
        except RuntimeError:  # ITK's own failures: no precision, but the fit stands
            return None, None
        covariance = precision.shift_covariance(grid, samples)
        if covariance is not None:
            x, y = np.sqrt(np.diag(covariance)).tolist()
            return (x, y), True
    return None, False


def _checks(
    stages: tuple[str, ...],
    levels: dict[int, Level],
    settings: SolverSettings,
    frame: Frame,
    euler: sitk.Euler2DTransform,
    images: tuple[SolveImage, SolveImage],
    threads: int,
) -> tuple[tuple[float, float] | None, bool | None, tuple | None]:
    """The fit's precision and curvature (:func:`_shift_precision`) and the layer check's moves
    (:func:`layer_shifts`) of the fixed and moving ``images``; with ``threads`` 2 the layer
    check's first refinement runs beside the precision."""
    refinements = layer_refinements(*images, frame, settings, euler)
    if refinements is None:
        return (*_shift_precision(stages, levels, settings, frame, euler), None)
    without_fixed, without_moving = refinements
    if threads > 1:
        with ThreadPoolExecutor(max_workers=1) as pool:
            first = pool.submit(without_fixed)
            standard_error, curved = _shift_precision(stages, levels, settings, frame, euler)
            moved = first.result()
    else:
        standard_error, curved = _shift_precision(stages, levels, settings, frame, euler)
        moved = without_fixed()
    return standard_error, curved, layer_shifts(moved, standard_error, without_moving)


def _metric_grid(
    level: Level,
    transform: sitk.Euler2DTransform,
    settings: SolverSettings,
    frame: Frame,
    samples: int,
) -> np.ndarray:
    """The metric on ``samples`` fixed pixels at the 3 x 3 shifts ``precision.STEP`` solve
    pixels apart about ``transform`` (x fastest), walked by ITK's exhaustive optimizer on a copy
    of it (the fit is not moved)."""
    reg = registration_method(
        settings, level, sitk.Euler2DTransform(transform), samples, values_only=True
    )
    reg.SetOptimizerAsExhaustive(
        numberOfSteps=[0, 1, 1], stepLength=precision.STEP * frame.pixel / frame.radius
    )
    reg.SetOptimizerScales([1.0, 1.0, 1.0])
    values: list[float] = []
    reg.AddCommand(sitk.sitkIterationEvent, lambda: values.append(reg.GetMetricValue()))
    reg.Execute(level.fixed, level.moving)
    return np.array(values)


def _in_frame(shift: tuple[float, float], frame: Frame) -> tuple[float, float]:
    """ITK's translation (reference points to moving ones, frame units) of a moving-to-reference
    ``shift`` in CRS units."""
    return (-shift[0] / frame.radius, -shift[1] / frame.radius)


def _start(search: Search | None, start: tuple[float, float], frame: Frame) -> tuple[float, float]:
    """Where the MI stages start, as ITK's translation: the global search's shift when it found
    one clear match, else the ``start`` given (the identity, or a chunked fit's coarse shift)."""
    if search is None or not trusted(search):
        return _in_frame(start, frame)
    return _in_frame(search.shift, frame)


def _search_fields(search: Search | None) -> dict[str, object]:
    """The search as :class:`Diagnostics` fields."""
    if search is None:
        return {}
    return {
        "search_shift": search.shift,
        "search_significance": search.significance,
        "search_ambiguity": search.ambiguity,
        "search_reach": search.reach,
    }
