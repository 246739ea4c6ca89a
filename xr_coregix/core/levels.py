"""SimpleITK's side of a solve: its settings, the normalised frame, pyramid levels as ITK
images, and a registration method on one level.

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
that are refined or checked (:mod:`xr_coregix.core.refinements`).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np
import SimpleITK as sitk
from affine import Affine
from odc.geo.geobox import GeoBox

from .grid import covering_roi
from .images import SolveImage, to_itk
from .pyramid import block_pyramid
from .transform import Diagnostics, RigidTransform

SEED = 20261124
MIN_SOLVE_PIXELS = 24  # smallest side, in solve-grid pixels, of a solvable mutual valid area
MIN_LEVEL_PIXELS = 48  # smallest side of a pyramid level: MI on fewer pixels sends solves astray
# First step of the last level, in its pixels: the level before stopped at a tenth of a pixel
# (a twentieth of its 2-pixel steps), so half a pixel only made the optimizer halve its step twice
# more. Measured (Sentinel-2 B04/B08/B03 against B04, 24 solves): 13.7 -> 11.3 iterations of the
# costliest level, the same residuals on benchmarks/accuracy.py.
FINAL_START = 0.125


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
        when it does not stand out (:func:`~xr_coregix.core.refinements.rotation_test`).
        Chunks do not: the global fit tests its own rotation, from the chunks' spread or over
        the whole overlap.
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


def registration_method(
    settings: SolverSettings,
    level: Level,
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
class Level:
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
    ) -> Level:
        """A level from both images reduced to it (:func:`block_pyramid`); with
        ``max_pixels``, the fixed image is its central window of at most that many pixels, and
        the moving image only what covers it (ITK's cost of a level grows with the moving
        image's size)."""
        if max_pixels is not None:
            fixed = central_window(fixed, max_pixels)
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


def central_window(image: SolveImage, max_pixels: int) -> SolveImage:
    """The central window of ``image`` holding at most ``max_pixels`` pixels."""
    rows, cols = image.values.shape
    if rows * cols <= max_pixels:
        return image
    side = math.isqrt(max_pixels)
    h, w = min(rows, side), min(cols, max_pixels // min(rows, side))
    r0, c0 = (rows - h) // 2, (cols - w) // 2
    return image.window(slice(r0, r0 + h), slice(c0, c0 + w))


def descend(reg: sitk.ImageRegistrationMethod, first: float, last: float, iterations: int) -> None:
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


def metric_value(level: Level, transform: sitk.Transform, settings: SolverSettings) -> float:
    reg = registration_method(settings, level, transform, settings.max_samples, values_only=True)
    return float(reg.MetricEvaluate(level.fixed, level.moving))


def frame_of(box: GeoBox) -> Frame:
    """The normalised frame of the mutual area ``box``: its centre and half diagonal."""
    pixel = float(max(abs(box.resolution.x), abs(box.resolution.y)))
    rows, cols = box.shape
    return Frame(
        center=tuple(box.affine @ (cols / 2, rows / 2)),
        radius=0.5 * pixel * math.hypot(rows, cols),
        pixel=pixel,
    )


def build_levels(
    fixed: SolveImage, moving: SolveImage, frame: Frame, settings: SolverSettings
) -> tuple[dict[int, Level], SolverSettings]:
    """The pyramid levels both stages use, built in one pass, and ``settings`` with the
    factors too small to sample (under :data:`MIN_LEVEL_PIXELS` a side) left out."""
    factors = {1, *settings.translation_shrink, *settings.rigid_shrink}
    factors = {f for f in factors if min(fixed.values.shape) // f >= MIN_LEVEL_PIXELS} | {1}
    fixed_levels = block_pyramid(fixed.values, fixed.valid, fixed.geobox, factors)
    moving_levels = block_pyramid(moving.values, moving.valid, moving.geobox, factors)
    levels = {
        f: Level.of(
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


def window_level(
    level: Level, xs: tuple[int, int], ys: tuple[int, int], euler: sitk.Euler2DTransform
) -> Level | None:
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
    return Level(fixed, fixed_mask, level.moving[cut], level.moving_mask[cut], valid)


def refined_translation(
    level: Level,
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
    reg = registration_method(settings, level, translation, samples, filtered=filtered)
    reg.SetMovingInitialTransform(sitk.Euler2DTransform(euler))
    descend(reg, *steps, settings.iterations)
    try:
        reg.Execute(level.fixed, level.moving)
    except RuntimeError:
        return None
    return translation.GetOffset()
