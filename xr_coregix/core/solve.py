"""SimpleITK registration of two georeferenced arrays: translation, then rigid.

ITK physical coordinates are CRS map coordinates, normalised: ``(p - c) / r`` for the centre
``c`` of the fixed area and its half diagonal ``r`` (a :class:`Frame`). Each array becomes an
image whose origin is its first pixel centre, whose spacing is its (positive) pixel size and
whose direction matrix carries the axis signs (``diag(1, -1)`` for a north-up raster).

Why normalised: ITK's regular-step optimizer moves by a fixed length along the normalised,
scaled gradient, so when the translation has converged and only rotation is left, a step is
``learningRate`` radians whatever the scales (seen: solves diverging to 70 degrees). In
normalised units a radian and a unit of translation both move the farthest pixel by about
``r``, so one step length means the same displacement for every parameter.

ITK transforms map fixed (reference) points to moving points; :meth:`Frame.fit_from_itk` turns
that into xr_coregix's direction and CRS units, and is the only place that does;
:meth:`Frame.itk_euler` is the way back, for fits made elsewhere (a chunked fit's global one)
that are refined or checked here.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial

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
from .checks import layer_allowance
from .grid import covering_roi
from .images import SolveImage, to_itk
from .pyramid import block_pyramid
from .search import Search, global_search, trusted
from .transform import Diagnostics, RigidTransform, StageResult

SEED = 20261124
MIN_SOLVE_PIXELS = 24  # smallest side, in solve-grid pixels, of a solvable mutual valid area
MIN_LEVEL_PIXELS = 48  # smallest side of a pyramid level: MI on fewer pixels sends solves astray
METRIC_PIXELS = 250_000  # most pixels of the level the metric before/after is evaluated on
# First step of the last level, in its pixels: the level before stopped at a tenth of a pixel
# (a twentieth of its 2-pixel steps), so half a pixel only made the optimizer halve its step twice
# more. Measured (Sentinel-2 B04/B08/B03 against B04, 24 solves): 13.7 -> 11.3 iterations of the
# costliest level, the same residuals on benchmarks/accuracy.py.
FINAL_START = 0.125
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


@dataclass(frozen=True)
class SolverSettings:
    """Knobs of the SimpleITK solve; the defaults are the measured good ones.

    Attributes
    ----------
    histogram_bins : int
        Bins of the Mattes mutual information joint histogram. Fewer bins are less noisy on
        clear pairs (``benchmarks/accuracy.py``, 24 bins: Sentinel-2 B03 against B04 0.0085 ->
        0.0061 px, Landsat B5 0.017 -> 0.014) but let clouds of another date pull a single
        solve further (the pan crop of ``benchmarks/clouds.py`` under 20 % of them: 0.035 ->
        0.051 px, past issue 10's 0.05; 16 bins: 0.062 px on the B4 crop's 40 % case), so 32.
    translation_shrink, rigid_shrink : tuple of int
        Multi-resolution pyramid of each stage, coarse to fine (block averages). The
        translation stage ends at full resolution only when it is the last stage: the rigid
        stage refines the translation there anyway, and a full-resolution level is the costly
        one (ITK prepares the whole image at every level: about 0.13 s a megapixel). The rigid
        stage starts at an eighth of the resolution, where a rotation moves the corners of a
        large area few pixels: on a 2600 x 2600 px single solve, a case turned 1 degree stopped
        near the identity (10 px off at the corners) starting at half, and one turned -0.8
        degrees starting at a quarter (refused: no minimum); from an eighth both are found
        (``benchmarks/accuracy.py`` unchanged within noise, in the same time). Chunks start at
        half: the global fit takes the rotation from their anchors.
    max_level_pixels : int or None
        When set, each pyramid level solves on the central window of at most this many
        pixels: coarse levels see the whole area, fine ones its centre. It bounds the cost and
        memory of a level (a filtered gradient image of the moving image takes 16 bytes a
        pixel) and keeps every level of a single solve small enough for
        ``gradient_filter_pixels`` (the moving window covering it takes a margin more); chunks
        use a smaller bound, as the global fit takes its rotation from the spread of the
        chunks.
    max_samples, final_samples : int
        Most fixed pixels sampled per level (a regular lattice, jittered with a fixed seed), and
        at the last level of the last stage, which decides the accuracy; smaller levels sample
        every pixel.
    iterations : int
        Most optimizer iterations per level.
    min_step : float
        Optimizer stop: step length, in fixed pixels.
    gradient_filter_pixels : int
        Largest moving level (pixels) whose gradient ITK takes from a Gaussian-filtered whole
        image; larger levels take central differences at the sampled points. The filter makes
        a single solve converge more accurately across bands (measured on the Landsat scene:
        0.012 against 0.025 px), but filtering a whole level costs several times its
        optimisation. Chunks filter only their small levels (512 kpx): on their large ones the
        global fit's averaging does as well without (measured on mirrored B5/B4 pairs: as
        accurate or more, 20 to 30 % faster), while small chunks need it as single solves do
        (at 256 kpx the 620 x 620 px chunk windows of the Sentinel-2 crop of
        ``benchmarks/accuracy.py`` went unfiltered: B04 against itself worst 0.037 px, B03
        0.022 px median; filtered 0.004 and 0.013 px, in the same time).
    test_rotation : bool
        Test the rigid stage's rotation against the spread of local shifts, and leave it out
        when it does not stand out (:func:`_rotation_test`). Chunks do not: the global fit
        tests its own rotation, from the chunks' spread or over the whole overlap.
    filter_last_level : bool
        Filter the last level of the last stage whatever its size (``max_level_pixels``
        bounds it): it decides the accuracy. Single solves beyond 2048 x 2048 px used to leave
        it unfiltered (numpy input is one solve at any size): on a 2600 x 2600 px mosaic of the
        Sentinel-2 bands, B03 against B04 came out 0.10-0.29 px off and B02 0.17-0.34 px (3 and
        8 cases) under bounds of 0.03 px; filtered, 0.003-0.05 px and 0.004-0.016 px. The
        levels before it converge as well unfiltered beyond 1 Mpx (the same residuals, 1.2 s
        less at 4096 x 4096 px). Chunks filter their last level too: split factor 2 on that
        mosaic (8 cases, chunks' last levels 1024 x 1024 px), B02 against B04 0.256 -> 0.059 px
        median, B03 0.112 -> 0.048, B04 against itself worst 0.109 -> 0.029, B08 0.137 ->
        0.129, for 5 to 20 % more time.
    """

    histogram_bins: int = 32
    translation_shrink: tuple[int, ...] = (8, 4, 2)
    rigid_shrink: tuple[int, ...] = (8, 4, 2, 1)
    max_level_pixels: int | None = 2048 * 2048
    max_samples: int = 25_000
    final_samples: int = 100_000
    iterations: int = 200
    min_step: float = 1e-3
    gradient_filter_pixels: int = 1 << 20
    filter_last_level: bool = True
    test_rotation: bool = True


@dataclass(frozen=True)
class Frame:
    """Normalised ITK coordinates: ``(p - center) / radius`` for a CRS point ``p``; ``pixel``
    is the fixed pixel size in CRS units."""

    center: tuple[float, float]
    radius: float
    pixel: float

    def geobox(self, gbox: GeoBox) -> GeoBox:
        """``gbox`` with its affine expressed in normalised coordinates."""
        to_frame = Affine.scale(1 / self.radius) @ Affine.translation(
            -self.center[0], -self.center[1]
        )
        return GeoBox(gbox.shape, to_frame @ gbox.affine, gbox.crs)

    def itk_euler(self, fit: RigidTransform) -> sitk.Euler2DTransform:
        """ITK's transform (fixed points to moving ones, in the frame) of a moving-to-reference
        ``fit``: the inverse of :meth:`fit_from_itk`."""
        itk = RigidTransform.from_matrix(fit.inverse().matrix, self.center, fit.crs)
        euler = sitk.Euler2DTransform()
        euler.SetAngle(itk.rotation)
        euler.SetTranslation(tuple(v / self.radius for v in itk.translation))
        return euler

    def fit_from_itk(
        self, transform: sitk.Euler2DTransform, crs: object, diagnostics: Diagnostics | None
    ) -> RigidTransform:
        """xr_coregix's moving-to-reference fit, in CRS units, from ITK's fixed-to-moving one.

        In the frame ITK maps ``q -> R q + t`` (centre 0); in CRS units that is
        ``p -> R (p - c) + c + r t``, which is then inverted.
        """
        tx, ty = transform.GetTranslation()
        itk_fit = RigidTransform(
            rotation=transform.GetAngle(),
            translation=(tx * self.radius, ty * self.radius),
            center=self.center,
            crs=crs,
        )
        return itk_fit.inverse().with_diagnostics(diagnostics)


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


_THREADS_LOCK = threading.Lock()
_THREADS_USERS = 0
_THREADS_SAVED = 0


@contextmanager
def single_threaded_itk() -> Iterator[None]:
    """Run SimpleITK single-threaded for the duration (re-entrant across Python threads).

    ITK's Mattes MI merges per-thread derivatives in thread completion order, so with more than
    one thread the same solve differs in its last digits from run to run (ITK issue 4025, PR
    6622). One ITK thread makes a fit bit-identical across runs and machines; parallelism comes
    from solving chunks side by side instead. SimpleITK's thread count is process-global: it is
    set while any solve runs and restored after the last one ends.
    """
    global _THREADS_USERS, _THREADS_SAVED
    with _THREADS_LOCK:
        if _THREADS_USERS == 0:
            _THREADS_SAVED = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
            sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
        _THREADS_USERS += 1
    try:
        yield
    finally:
        with _THREADS_LOCK:
            _THREADS_USERS -= 1
            if _THREADS_USERS == 0:
                sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(_THREADS_SAVED)


def _method(
    settings: SolverSettings,
    level: _Level,
    transform: sitk.Transform,
    samples: int,
    values_only: bool = False,
    filtered: bool = False,
) -> sitk.ImageRegistrationMethod:
    """A Mattes MI registration method on one pyramid level, sampling a fixed lattice;
    ``values_only``: for metric values, which need no filtered gradient image; ``filtered``:
    a filtered gradient image whatever the level's size."""
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=settings.histogram_bins)
    reg.SetMetricFixedMask(level.fixed_mask)
    reg.SetMetricMovingMask(level.moving_mask)
    # the lattice covers masked pixels too, whose samples the metric drops: aim at the valid ones
    share = samples / max(1, level.fixed_valid)
    if share < 1.0:
        reg.SetMetricSamplingStrategy(reg.REGULAR)
        reg.SetMetricSamplingPercentage(share, SEED)
    else:
        reg.SetMetricSamplingStrategy(reg.NONE)
    # the metric's derivative needs the moving image's gradient only. ITK by default filters
    # whole images for it (Gaussian-smoothed gradients): worth it on small levels, where it
    # converges more accurately, but several times the optimisation's cost on large ones, which
    # take central differences at the sampled points instead
    reg.SetMetricUseFixedImageGradientFilter(False)
    small = level.moving.GetNumberOfPixels() <= settings.gradient_filter_pixels
    reg.SetMetricUseMovingImageGradientFilter((small or filtered) and not values_only)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetInitialTransform(transform, inPlace=True)
    return reg


@dataclass(frozen=True)
class _Level:
    """Both images and masks of one pyramid level, as ITK images, and how many fixed pixels
    are valid."""

    fixed: sitk.Image
    fixed_mask: sitk.Image
    moving: sitk.Image
    moving_mask: sitk.Image
    fixed_valid: int

    @classmethod
    def of(
        cls,
        fixed: SolveImage,
        moving: SolveImage,
        frame: Frame,
        max_pixels: int | None = None,
    ) -> _Level:
        """A level from both images reduced to it (:func:`block_pyramid`); with
        ``max_pixels``, the fixed image is its central window of at most that many pixels, and
        the moving image only what covers it (ITK's cost of a level grows with the moving
        image's size)."""
        if max_pixels is not None:
            fixed = _central(fixed, max_pixels)
            margin = MIN_SOLVE_PIXELS + max(fixed.values.shape) // 30
            moving = moving.window(*covering_roi(moving.geobox, fixed.geobox, pad=margin))
        fbox, mbox = frame.geobox(fixed.geobox), frame.geobox(moving.geobox)
        return cls(
            to_itk(np.asarray(fixed.values, dtype=np.float32), fbox),
            to_itk(fixed.valid.astype(np.uint8), fbox),
            to_itk(np.asarray(moving.values, dtype=np.float32), mbox),
            to_itk(moving.valid.astype(np.uint8), mbox),
            int(np.count_nonzero(fixed.valid)),
        )


def _central(image: SolveImage, max_pixels: int) -> SolveImage:
    """The central window of ``image`` holding at most ``max_pixels`` pixels."""
    rows, cols = image.values.shape
    if rows * cols <= max_pixels:
        return image
    side = math.isqrt(max_pixels)
    h, w = min(rows, side), min(cols, max_pixels // min(rows, side))
    r0, c0 = (rows - h) // 2, (cols - w) // 2
    return image.window(slice(r0, r0 + h), slice(c0, c0 + w))


def _run_stage(
    name: str,
    transform: sitk.Transform,
    levels: dict[int, _Level],
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
        reg = _method(settings, level, transform, samples, filtered=filtered)
        start = FINAL_START if last and final and not first else 1.0 if first else 0.5
        min_step = settings.min_step if last else 0.05 * factor
        _descend(reg, start * factor * spacing, min_step * spacing, settings.iterations)
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


def _descend(reg: sitk.ImageRegistrationMethod, first: float, last: float, iterations: int) -> None:
    """Set ``reg``'s optimizer: regular-step gradient descent from a step of ``first`` down
    to ``last`` (frame units), every parameter at the same scale."""
    reg.SetOptimizerAsRegularStepGradientDescent(
        learningRate=first,
        minStep=last,
        numberOfIterations=iterations,
        relaxationFactor=0.5,
        gradientMagnitudeTolerance=1e-10,
    )
    reg.SetOptimizerScales([1.0] * reg.GetInitialTransform().GetNumberOfParameters())


def _metric(level: _Level, transform: sitk.Transform, settings: SolverSettings) -> float:
    reg = _method(settings, level, transform, settings.max_samples, values_only=True)
    return float(reg.MetricEvaluate(level.fixed, level.moving))


def _solve_stages(
    stages: tuple[str, ...],
    levels: dict[int, _Level],
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
        frame = _frame(cropped.geobox)
        levels, settings = _levels(cropped, moving, frame, settings)
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
        pixel_size=reference_pixel,
        edge_proxy=edge_proxy,
        stages=tuple(results),
        shift_precision=(
            None
            if standard_error is None
            else tuple(v * frame.pixel / reference_pixel for v in standard_error)
        ),
        metric_curved=curved,
        layer_shifts=None if layers is None else _in_pixels(layers, frame.pixel / reference_pixel),
        rotation_error=rotation[0],
        rotation_left_out=rotation[1],
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


def _frame(box: GeoBox) -> Frame:
    """The normalised frame of the mutual area ``box``: its centre and half diagonal."""
    pixel = float(max(abs(box.resolution.x), abs(box.resolution.y)))
    rows, cols = box.shape
    return Frame(
        center=tuple(box.affine @ (cols / 2, rows / 2)),
        radius=0.5 * pixel * math.hypot(rows, cols),
        pixel=pixel,
    )


def _levels(
    fixed: SolveImage, moving: SolveImage, frame: Frame, settings: SolverSettings
) -> tuple[dict[int, _Level], SolverSettings]:
    """The pyramid levels both stages use, built in one pass, and ``settings`` with the
    factors too small to sample (under :data:`MIN_LEVEL_PIXELS` a side) left out."""
    factors = {1, *settings.translation_shrink, *settings.rigid_shrink}
    factors = {f for f in factors if min(fixed.values.shape) // f >= MIN_LEVEL_PIXELS} | {1}
    fixed_levels = block_pyramid(fixed.values, fixed.valid, fixed.geobox, factors)
    moving_levels = block_pyramid(moving.values, moving.valid, moving.geobox, factors)
    levels = {
        f: _Level.of(
            SolveImage(*fixed_levels[f]),
            SolveImage(*moving_levels[f]),
            frame,
            settings.max_level_pixels,
        )
        for f in sorted(factors)
    }
    settings = replace(
        settings,
        translation_shrink=tuple(f for f in settings.translation_shrink if f in levels) or (1,),
        rigid_shrink=tuple(f for f in settings.rigid_shrink if f in levels) or (1,),
    )
    return levels, settings


def _optimise(
    stages: tuple[str, ...],
    levels: dict[int, _Level],
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
    transform, and the rotation's error and the rotation left out (:func:`_rotation_test`, on
    ``threads``)."""
    metric_factor = min((f for f in levels if size / f**2 <= METRIC_PIXELS), default=None)
    metric_level = levels[metric_factor or max(levels)]
    euler = sitk.Euler2DTransform()  # centre (0, 0): the frame's centre
    try:
        before_at = sitk.Euler2DTransform()
        before_at.SetTranslation(_in_frame(given, frame))
        before = _metric(metric_level, before_at, settings)
        results = _solve_stages(stages, levels, settings, frame, euler, start)
        tested = "rigid" in stages and settings.test_rotation
        rotation = (
            _rotation_test(levels, settings, frame, euler, threads) if tested else (None, None)
        )
        after = _metric(metric_level, euler, settings)
        if not np.isfinite(euler.GetParameters()).all():
            raise RuntimeError(f"the optimizer ended at {euler.GetParameters()}")
    except RuntimeError as err:  # ITK's own failures (degenerate histograms...)
        message = " ".join(str(err).split())[-300:]
        raise RegistrationError(f"SimpleITK could not solve this pair: {message}") from err
    return before, after, results, euler, rotation


def _rotation_test(
    levels: dict[int, _Level],
    settings: SolverSettings,
    frame: Frame,
    euler: sitk.Euler2DTransform,
    threads: int = 1,
) -> tuple[float | None, float | None]:
    """The rotation's standard error (radians) from the spread of local shifts about the fit
    (:func:`_local_shifts` on the last level but one, or the last when its windows would be
    too narrow), and the rotation left out: when it does not stand out of that error
    (:func:`~xr_coregix.core.precision.rotation_supported`), ``euler`` loses it, turning no
    more about the centre of the area, whose displacement is kept; else None."""
    factor = next(
        (
            f
            for f in (2, 1)
            if f in levels and min(levels[f].fixed.GetSize()) >= LOCAL_MIN_SIDE * LOCAL_WINDOWS
        ),
        1,
    )
    error = precision.rotation_error(
        *_local_shifts(levels[factor], factor, frame, settings, euler, threads)
    )
    if precision.rotation_supported(euler.GetAngle(), error):
        return error, None
    left_out = frame.fit_from_itk(euler, None, None).rotation
    euler.SetAngle(0.0)
    return error, left_out


def _local_shifts(
    level: _Level,
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
        window = _window(level, xs, ys, euler)
        if window is not None and window.fixed_valid >= LOCAL_MIN_VALID:
            centre = ((xs[0] + xs[1]) / 2 - 0.5, (ys[0] + ys[1]) / 2 - 0.5)
            windows.append((level.fixed.TransformContinuousIndexToPhysicalPoint(centre), window))
    steps = (0.5 * factor * spacing, LAYER_MIN_STEP * factor * spacing)
    refine = partial(_translation, euler=euler, settings=settings, samples=LOCAL_SAMPLES,
                     steps=steps)  # fmt: skip
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        offsets = list(pool.map(refine, [window for _, window in windows]))
    found = [(p, o) for (p, _), o in zip(windows, offsets, strict=True) if o is not None]
    points = np.array([(x / spacing, y / spacing) for (x, y), _ in found]).reshape(-1, 2)
    shifts = np.array([(-ox / spacing, -oy / spacing) for _, (ox, oy) in found]).reshape(-1, 2)
    return points, shifts


def _window(
    level: _Level, xs: tuple[int, int], ys: tuple[int, int], euler: sitk.Euler2DTransform
) -> _Level | None:
    """The window ``xs`` x ``ys`` (columns and rows) of ``level``'s fixed image, and the part of
    its moving image that ``euler`` puts under it, with a margin; None when that is not in
    the moving image."""
    fixed = level.fixed[xs[0] : xs[1], ys[0] : ys[1]]
    fixed_mask = level.fixed_mask[xs[0] : xs[1], ys[0] : ys[1]]
    corners = [fixed.TransformIndexToPhysicalPoint((x, y)) for x in (0, xs[1] - xs[0] - 1)
               for y in (0, ys[1] - ys[0] - 1)]  # fmt: skip
    index = np.array(
        [
            level.moving.TransformPhysicalPointToContinuousIndex(euler.TransformPoint(p))
            for p in corners
        ]
    )
    size = np.array(level.moving.GetSize())
    low = np.clip(np.floor(index.min(axis=0)).astype(int) - MIN_SOLVE_PIXELS // 3, 0, size)
    high = np.clip(np.ceil(index.max(axis=0)).astype(int) + MIN_SOLVE_PIXELS // 3, 0, size)
    if np.any(high - low < MIN_SOLVE_PIXELS // 3):
        return None
    cut = (slice(int(low[0]), int(high[0])), slice(int(low[1]), int(high[1])))
    valid = int(np.count_nonzero(sitk.GetArrayViewFromImage(fixed_mask)))
    return _Level(fixed, fixed_mask, level.moving[cut], level.moving_mask[cut], valid)


def _translation(
    level: _Level,
    euler: sitk.Euler2DTransform,
    settings: SolverSettings,
    samples: int,
    steps: tuple[float, float],
    filtered: bool = False,
) -> tuple[float, float] | None:
    """ITK's translation (frame units) that, composed after ``euler``, optimises the metric on
    ``level`` from a step of ``steps[0]`` down to ``steps[1]`` (frame units), on ``samples``
    samples; None when ITK fails (too few samples left...)."""
    translation = sitk.TranslationTransform(2)
    reg = _method(settings, level, translation, samples, filtered=filtered)
    reg.SetMovingInitialTransform(sitk.Euler2DTransform(euler))
    _descend(reg, *steps, settings.iterations)
    try:
        reg.Execute(level.fixed, level.moving)
    except RuntimeError:
        return None
    return translation.GetOffset()


def _shift_precision(
    stages: tuple[str, ...],
    levels: dict[int, _Level],
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
    levels: dict[int, _Level],
    settings: SolverSettings,
    frame: Frame,
    euler: sitk.Euler2DTransform,
    images: tuple[SolveImage, SolveImage],
    threads: int,
) -> tuple[tuple[float, float] | None, bool | None, tuple | None]:
    """The fit's precision and curvature (:func:`_shift_precision`) and the layer check's moves
    (:func:`_layer_shifts`) of the fixed and moving ``images``; with ``threads`` 2 the layer
    check's first refinement runs beside the precision."""
    refinements = _refinements(*images, frame, settings, euler)
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
    return standard_error, curved, _layer_shifts(moved, standard_error, without_moving)


def _refinements(
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
    frame = _frame(fixed.geobox)
    euler = frame.itk_euler(fit)
    refinements = _refinements(fixed, moving, frame, settings, euler)
    if refinements is None:
        return None
    without_fixed, without_moving = refinements
    with single_threaded_itk():
        # the allowance without the fit's own error: a chunked fit's is the chunks' spread,
        # which clouds that lead some of them widen (the crop's B8 at split factor 1: 0.23 px)
        layers = _layer_shifts(without_fixed(), None, without_moving)
    return None if layers is None else _in_pixels(layers, frame.pixel / pixel_size)


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
    frame = _frame(fixed.geobox)
    euler = frame.itk_euler(fit)
    with single_threaded_itk():
        level = _Level.of(fixed, moving, frame, LAYER_WINDOW_PIXELS)
        if level.fixed_valid < LAYER_MIN_PIXELS:
            return None
        reg = _method(settings, level, euler, settings.final_samples, filtered=True)
        spacing = frame.pixel / frame.radius
        _descend(reg, FINAL_START * spacing, settings.min_step * spacing, settings.iterations)
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
    frame = _frame(fixed.geobox)
    euler = frame.itk_euler(fit)
    with single_threaded_itk():
        levels, _ = _levels(fixed, moving, frame, replace(settings, translation_shrink=(2,)))
        error, left_out = _rotation_test(levels, settings, frame, euler, threads=2)
    return (fit if left_out is None else fit.without_rotation()), error, left_out


def _layer_shifts(
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
    level = _Level.of(fixed, moving, frame, LAYER_WINDOW_PIXELS)
    if level.fixed_valid < LAYER_MIN_PIXELS:
        return None
    spacing = frame.pixel / frame.radius
    steps = (0.5 * spacing, LAYER_MIN_STEP * spacing)
    offset = _translation(level, euler, settings, settings.max_samples, steps, filtered=True)
    if offset is None:  # ITK's own failures (too few samples left...): no evidence
        return None
    # ITK's translation takes reference points into the moving band: the fit moves them back
    return (-offset[0] / spacing, -offset[1] / spacing)


def _metric_grid(
    level: _Level,
    transform: sitk.Euler2DTransform,
    settings: SolverSettings,
    frame: Frame,
    samples: int,
) -> np.ndarray:
    """The metric on ``samples`` fixed pixels at the 3 x 3 shifts ``precision.STEP`` solve
    pixels apart about ``transform`` (x fastest), walked by ITK's exhaustive optimizer on a copy
    of it (the fit is not moved)."""
    reg = _method(settings, level, sitk.Euler2DTransform(transform), samples, values_only=True)
    reg.SetOptimizerAsExhaustive(
        numberOfSteps=[0, 1, 1], stepLength=precision.STEP * frame.pixel / frame.radius
    )
    reg.SetOptimizerScales([1.0, 1.0, 1.0])
    values: list[float] = []
    reg.AddCommand(sitk.sitkIterationEvent, lambda: values.append(reg.GetMetricValue()))
    reg.Execute(level.fixed, level.moving)
    return np.array(values)


def _in_pixels(
    shifts: tuple[tuple[float, float] | None, ...], scale: float
) -> tuple[tuple[float, float] | None, ...]:
    """Shifts in solve pixels as reference pixels (``scale``: a solve pixel in them)."""
    return tuple(None if s is None else (s[0] * scale, s[1] * scale) for s in shifts)


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
