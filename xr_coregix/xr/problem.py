"""A registration problem: the two bands, their grids, and how a window of them is solved.

Both the single solve and every chunk of a chunked solve go through :func:`solve_window`, which
reads only its window (a dask task reads only its chunk).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import dask
import numpy as np
import xarray as xr
from affine import Affine
from odc.geo.geobox import GeoBox

from ..core.exclusion import SAMPLE_PIXELS, SIDES, beyond, dilate, guard
from ..core.fill import fill_invalid
from ..core.grid import covering_roi
from ..core.images import SolveImage
from ..core.levels import SolverSettings
from ..core.proxy import clip_strong_edges
from ..core.proxy import edge_proxy as make_edge_proxy
from ..core.pyramid import block_reduce, reduce_valid
from ..core.solve import solve
from ..core.transform import RigidTransform
from ..errors import InsufficientValidDataError, NoOverlapError
from ..options import CloudSide
from .arguments import RegisterOptions
from .bands import select_band
from .exclude import MaskArg, mask_on_grid
from .georef import check_pair, geobox_of, spatial_dims
from .masks import check_dtype, check_nodata, nodata_of, valid_mask

MARGIN_PIXELS = 32  # reference pixels read around a window, so shifted content stays in reach
MARGIN_SHARE = 0.03  # and this share of the window's size, for rotations


def pixel_size(gbox: GeoBox) -> float:
    """The larger of a grid's two pixel sizes, CRS units."""
    return float(max(abs(gbox.resolution.x), abs(gbox.resolution.y)))


@dataclass(frozen=True)
class Exclusion:
    """What one raster keeps out of the metric besides nodata.

    Attributes
    ----------
    radius : int
        Pixels (of the raster's own grid) by which masked and cloud pixels are grown.
    threshold : float or None
        The cloud guard's threshold (None: no guard).
    side : str
        ``"bright"`` or ``"cold"``: where the guard's clouds lie.
    layer : float or None
        Beyond it lies the band's cloud side that the layer check leaves out
        (:data:`~xr_coregix.core.exclusion.LAYER_SHARE` of it; None: no check).
    """

    radius: int = 0
    threshold: float | None = None
    side: str = "bright"
    layer: float | None = None


@dataclass(frozen=True)
class SolveSpec:
    """Everything a solve of one window needs besides the pixels (small, picklable)."""

    fixed_nodata: float | None
    moving_nodata: float | None
    fixed_factor: int
    moving_factor: int
    edge_proxy: bool
    stages: tuple[str, ...]
    min_valid_fraction: float
    reference_grid: GeoBox
    fixed_exclusion: Exclusion = Exclusion()
    moving_exclusion: Exclusion = Exclusion()
    settings: SolverSettings = field(default_factory=SolverSettings)
    shift: tuple[float, float] = (0.0, 0.0)  # a coarse moving-to-reference translation, CRS


@dataclass(frozen=True)
class Window:
    """The (lazy) pixels of one solve: both bands, their grids and their masks (or None)."""

    fixed: xr.DataArray
    fixed_box: GeoBox
    moving: xr.DataArray
    moving_box: GeoBox
    fixed_mask: xr.DataArray | None = None
    moving_mask: xr.DataArray | None = None

    def loaded(self) -> Window:
        """The window with its pixels read (in one go)."""
        fixed, moving, fixed_mask, moving_mask = dask.compute(
            self.fixed, self.moving, self.fixed_mask, self.moving_mask
        )
        return Window(fixed, self.fixed_box, moving, self.moving_box, fixed_mask, moving_mask)


def solve_image(
    values: np.ndarray,
    gbox: GeoBox,
    nodata: float | None,
    factor: int,
    edge_proxy: bool,
    mask: np.ndarray | None,
    exclusion: Exclusion,
    rings: int,
) -> tuple[SolveImage, float]:
    """The solve image of one band, and the share of its valid pixels excluded as cloud.

    Holes are filled ``rings`` pixels deep: one for the edge proxy's stencil, two where ITK
    also interpolates between pixels (the moving band)."""
    valid = valid_mask(values, nodata)
    cloud = np.zeros(valid.shape, bool) if mask is None else np.array(mask, dtype=bool)
    if exclusion.threshold is not None:
        cloud |= beyond(values, exclusion.threshold, exclusion.side)
    cloud = dilate(cloud, exclusion.radius)
    cloud &= valid
    count = int(np.count_nonzero(valid))
    share = int(np.count_nonzero(cloud)) / count if count else 0.0
    valid &= ~cloud
    del cloud
    clear = _clear_side(values, valid, exclusion, factor)
    values, valid, box = block_reduce(values, valid, gbox, factor)
    # holes filled from their neighbours: no stencil and no interpolation sees them as edges
    values = fill_invalid(values, valid, rings)
    if edge_proxy:
        values, inside = make_edge_proxy(values, np.ones(valid.shape, bool))
        valid &= inside  # the array's border has no stencil
        clip_strong_edges(values, valid)
    return SolveImage(values, valid, box, clear), share


def _clear_side(
    values: np.ndarray, valid: np.ndarray, exclusion: Exclusion, factor: int
) -> np.ndarray | None:
    """The valid pixels off the band's cloud side (beyond ``exclusion.layer``, grown by its
    radius), reduced by ``factor`` as validity is; None when the layer check is off."""
    if exclusion.layer is None:
        return None
    side = dilate(beyond(values, exclusion.layer, exclusion.side), exclusion.radius)
    return reduce_valid(valid & ~side, factor)


def _values(band: xr.DataArray | None) -> np.ndarray | None:
    return None if band is None else np.asarray(band.values)


def solve_images(
    window: Window, spec: SolveSpec, threads: int = 1
) -> tuple[tuple[SolveImage, float], tuple[SolveImage, float]]:
    """The fixed and moving solve images of a loaded ``window`` and the share of each band's
    valid pixels kept out as cloud (:func:`solve_image`); ``threads`` 2: side by side (numpy
    releases the GIL; each image is the same either way)."""
    jobs = (
        (window.fixed, window.fixed_box, spec.fixed_nodata, spec.fixed_factor,
         window.fixed_mask, spec.fixed_exclusion, 1),
        (window.moving, window.moving_box, spec.moving_nodata, spec.moving_factor,
         window.moving_mask, spec.moving_exclusion, 2),
    )  # fmt: skip

    def image(job: tuple) -> tuple[SolveImage, float]:
        band, box, nodata, factor, mask, exclusion, rings = job
        return solve_image(
            np.asarray(band.values), box, nodata, factor, spec.edge_proxy, _values(mask),
            exclusion, rings=rings,
        )  # fmt: skip

    if threads > 1:
        with ThreadPoolExecutor(max_workers=2) as pool:
            fixed, moving = pool.map(image, jobs)
    else:  # in this very thread
        fixed, moving = (image(job) for job in jobs)
    return fixed, moving


def solve_window(window: Window, spec: SolveSpec, *, threads: int = 1) -> RigidTransform:
    """Solve one window (its pixels are loaded here).

    The fit's diagnostics record the share of each band's valid pixels that masks and the cloud
    guard kept out of the metric. ``threads`` 2 makes the two bands' solve images side by side
    (numpy releases the GIL; each band's image is the same either way), and the fit's precision
    beside the layer check (:func:`xr_coregix.core.solve.solve`): for a single solve, not for a
    chunk or a cube's date, whose task already shares the cores with others.
    """
    (fixed_img, fixed_cloud), (moving_img, moving_cloud) = solve_images(window, spec, threads)
    try:
        fit = solve(
            fixed_img,
            moving_img,
            stages=spec.stages,
            min_valid_fraction=spec.min_valid_fraction,
            edge_proxy=spec.edge_proxy,
            pixel_size=pixel_size(spec.reference_grid),
            settings=spec.settings,
            start=spec.shift,
            threads=threads,
        )
    except (InsufficientValidDataError, NoOverlapError) as err:
        if not max(moving_cloud, fixed_cloud) > 0:
            raise
        raise type(err)(
            f"{err}. Masks and the cloud guard kept {moving_cloud:.1%} of moving's and "
            f"{fixed_cloud:.1%} of fixed's valid pixels out as cloud: if that is ground, pass "
            "cloud_guard=False or a smaller mask_dilation"
        ) from err
    diagnostics = replace(fit.diagnostics, cloud_excluded=(moving_cloud, fixed_cloud))
    return fit.with_diagnostics(diagnostics)


def _solve_factor(fixed_box: GeoBox, solve_resolution: float | None) -> int:
    """Integer reduction of the reference grid that gives the solve grid."""
    if solve_resolution is None:
        return 1
    return max(1, round(solve_resolution / pixel_size(fixed_box)))


def _strided_box(box: GeoBox, step: int) -> GeoBox:
    """The grid of every ``step``-th pixel centre of ``box``."""
    half = 0.5 - step / 2  # pixel centre j of the sample is centre j * step of the box
    rows, cols = (math.ceil(n / step) for n in box.shape)
    return GeoBox((rows, cols), box.affine @ Affine.translation(half, half) @ Affine.scale(step),
                  box.crs)  # fmt: skip


@dataclass(frozen=True)
class Problem:
    """The 2-D registration bands (lazy when the inputs are), their masks, their grids and the
    solve spec (whose ``shift``, a coarse translation from the whole overlap's global search in
    chunked solves, the windows of the moving band follow)."""

    fixed: xr.DataArray
    moving: xr.DataArray
    fixed_box: GeoBox
    moving_box: GeoBox
    overlap: tuple[slice, slice]
    spec: SolveSpec
    fixed_mask: xr.DataArray | None = None
    moving_mask: xr.DataArray | None = None

    @classmethod
    def build(
        cls,
        moving: xr.DataArray | xr.Dataset,
        fixed: xr.DataArray | xr.Dataset,
        options: RegisterOptions,
        moving_mask: MaskArg = None,
        fixed_mask: MaskArg = None,
    ) -> Problem:
        """Check the inputs against the (checked) options, and set the problem up (nothing is
        read)."""
        moving_nodata, fixed_nodata = options.moving_nodata, options.fixed_nodata
        mask_dilation = options.mask_dilation
        moving_2d = select_band(moving, options.moving_band, "moving_band")
        fixed_2d = select_band(fixed, options.fixed_band, "fixed_band")
        moving_box = geobox_of(moving_2d, "moving")
        fixed_box = geobox_of(fixed_2d, "fixed")
        for band, name, override in (
            (moving_2d, "moving", moving_nodata),
            (fixed_2d, "fixed", fixed_nodata),
        ):
            check_dtype(band.dtype, name)
            label = f"{name}_nodata" if override is not None else f"the nodata of {name}"
            check_nodata(nodata_of(band, override), band.dtype, label)
        check_pair(moving_box, fixed_box)
        overlap = covering_roi(fixed_box, moving_box)
        if fixed_box[overlap].is_empty():
            raise NoOverlapError(
                "moving and fixed share no whole reference pixel: nothing to solve"
            )
        factor = _solve_factor(fixed_box, options.solve_resolution)
        spacing = factor * pixel_size(fixed_box)
        reference_pixel = pixel_size(fixed_box)
        spec = SolveSpec(
            fixed_nodata=nodata_of(fixed_2d, fixed_nodata),
            moving_nodata=nodata_of(moving_2d, moving_nodata),
            fixed_factor=factor,
            moving_factor=max(1, math.floor(spacing / pixel_size(moving_box) + 1e-6)),
            edge_proxy=options.edge_proxy,
            stages=options.stages,
            min_valid_fraction=options.min_valid_fraction,
            reference_grid=fixed_box,
            fixed_exclusion=Exclusion(radius=mask_dilation),
            moving_exclusion=Exclusion(
                radius=math.ceil(mask_dilation * reference_pixel / pixel_size(moving_box) - 1e-6)
            ),
        )
        ydim, xdim = spatial_dims(fixed_2d, "fixed")
        mydim, mxdim = spatial_dims(moving_2d, "moving")
        fixed_2d, moving_2d = fixed_2d.transpose(ydim, xdim), moving_2d.transpose(mydim, mxdim)
        return cls(
            fixed_2d,
            moving_2d,
            fixed_box,
            moving_box,
            overlap,
            spec,
            mask_on_grid(fixed_mask, fixed, fixed_2d, "fixed_mask"),
            mask_on_grid(moving_mask, moving, moving_2d, "moving_mask"),
        )

    def window(self, rows: slice, cols: slice) -> Window:
        """The (lazy) fixed pixels of a window of the fixed grid and the moving pixels around it
        (around where the spec's ``shift`` puts its ground in the moving raster)."""
        box = self.fixed_box[rows, cols]
        margin = (MARGIN_PIXELS + MARGIN_SHARE * max(box.shape)) * pixel_size(self.fixed_box)
        pad = math.ceil(margin / pixel_size(self.moving_box))
        tx, ty = self.spec.shift
        seen = GeoBox(box.shape, Affine.translation(-tx, -ty) @ box.affine, box.crs)
        mrows, mcols = covering_roi(self.moving_box, seen, pad=pad)
        return Window(
            self.fixed[rows, cols],
            box,
            self.moving[mrows, mcols],
            self.moving_box[mrows, mcols],
            None if self.fixed_mask is None else self.fixed_mask[rows, cols],
            None if self.moving_mask is None else self.moving_mask[mrows, mcols],
        )

    def sample(self, window: Window | None = None) -> Window:
        """Every few pixels of both bands (and masks) over the overlap, read here in one go: at
        most about ``SAMPLE_PIXELS`` of the reference band (every dask block is read: a
        threshold from a few blocks was measured 5-9 % off on a scene whose clouds gather in
        part of it), the moving band at about the same spacing. Their grids are those of the
        sampled pixel centres. From ``window`` (the overlap's, already read) when given."""
        window = window or self.window(*self.overlap)
        step = max(1, math.ceil(math.sqrt(window.fixed.size / SAMPLE_PIXELS)))
        ratio = pixel_size(self.fixed_box) / pixel_size(self.moving_box)
        steps = (step, max(1, round(step * ratio)))
        parts = [
            None if band is None else band[::n, ::n]
            for band, n in zip(
                (window.fixed, window.moving, window.fixed_mask, window.moving_mask),
                steps * 2,
                strict=True,
            )
        ]
        fixed, moving, fixed_mask, moving_mask = dask.compute(*parts)
        return Window(
            fixed,
            _strided_box(window.fixed_box, steps[0]),
            moving,
            _strided_box(window.moving_box, steps[1]),
            fixed_mask,
            moving_mask,
        )

    def guarded(self, cloud_guard: bool | CloudSide, sample: Window | None = None) -> Problem:
        """The problem with the cloud guard's threshold of each band set (``cloud_guard`` False:
        as it is), from ``sample`` (default: :meth:`sample`), so that every chunk of a chunked
        solve uses the same ones, and where each band's cloud side begins (the layer check)."""
        if cloud_guard is False:
            return self
        sample = sample or self.sample()
        exclusions = []
        for band, nodata, exclusion in (
            (sample.fixed, self.spec.fixed_nodata, self.spec.fixed_exclusion),
            (sample.moving, self.spec.moving_nodata, self.spec.moving_exclusion),
        ):
            values = np.asarray(band.values)
            values = values[valid_mask(values, nodata)]
            chosen = cloud_guard if isinstance(cloud_guard, str) and cloud_guard in SIDES else None
            side, threshold, layer = guard(values, chosen)
            exclusions.append(replace(exclusion, threshold=threshold, side=side, layer=layer))
        spec = replace(self.spec, fixed_exclusion=exclusions[0], moving_exclusion=exclusions[1])
        return replace(self, spec=spec)

    def without_layer_check(self) -> Problem:
        """The problem whose solves run no layer check (a chunked fit's chunks: the check is
        made once, on the global fit)."""
        spec = replace(
            self.spec,
            fixed_exclusion=replace(self.spec.fixed_exclusion, layer=None),
            moving_exclusion=replace(self.spec.moving_exclusion, layer=None),
        )
        return replace(self, spec=spec)
