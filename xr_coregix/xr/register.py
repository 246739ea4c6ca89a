"""``register``: estimate the rigid transform that aligns a moving raster to a fixed one."""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import replace

import dask.array as dsa
import pandas as pd
import xarray as xr
from dask.delayed import Delayed

from ..core.anchors import split_counts
from ..core.checks import problems
from ..core.transform import RigidTransform
from ..errors import (
    BandSelectionError,
    CoregError,
    RegistrationError,
    warn_caller,
)
from ..options import MASK_DILATION, STAGES, CloudSide, OnFailure, Stage
from .arguments import RegisterOptions
from .central import refined_and_checked
from .chunked import register_chunked
from .cube import DATE_ERRORS, LazyTransformSeries, Masks, delayed_fit, lazy_series
from .exclude import MaskArg
from .georef import spatial_dims
from .problem import Problem, pixel_size, solve_window
from .series import TransformSeries, series_dim

# split_factor derived for dask input: one solve up to SINGLE_SOLVE_PIXELS solve-grid pixels,
# beyond it chunks of TARGET_CHUNK_PIXELS (at most MAX_CHUNKS of them are solved: chunked.py)
SINGLE_SOLVE_PIXELS = 2048 * 2048
TARGET_CHUNK_PIXELS = 1024 * 1024
# smallest side of a chunk's own area (its core), solve-grid pixels: with its overlap into its
# neighbours, a window above the MIN_LEVEL_PIXELS a pyramid level needs
MIN_CHUNK_PIXELS = 64
COARSE_MOVING = 3  # a moving pixel this many times the reference's: suggest solve_resolution


def derive_split_factor(problem: Problem) -> int:
    """``split_factor`` when None: 0 for numpy input and for dask input of up to
    :data:`SINGLE_SOLVE_PIXELS`; beyond, chunks of about 1024 x 1024 solve pixels, never
    smaller than the input's own dask chunks."""
    arrays = [a.data for a in (problem.fixed, problem.moving) if isinstance(a.data, dsa.Array)]
    if not arrays:
        return 0
    rows, cols = problem.overlap
    factor2 = problem.spec.fixed_factor**2
    area = (rows.stop - rows.start) * (cols.stop - cols.start) / factor2
    largest = max(max(a.chunks[-2]) * max(a.chunks[-1]) for a in arrays)
    if area <= SINGLE_SOLVE_PIXELS:
        return 0
    target = max(TARGET_CHUNK_PIXELS, largest / factor2)
    return max(0, math.ceil(math.log2(area / target)))


def max_split_factor(problem: Problem) -> int:
    """The largest ``split_factor`` whose chunks keep a core of at least
    :data:`MIN_CHUNK_PIXELS` solve pixels a side over the problem's overlap."""
    rows, cols = problem.overlap
    shape = (rows.stop - rows.start, cols.stop - cols.start)
    factor = problem.spec.fixed_factor
    k = 0
    while True:
        n_rows, n_cols = split_counts(shape, k + 1)
        if min(shape[0] // n_rows, shape[1] // n_cols) < MIN_CHUNK_PIXELS * factor:
            return k
        k += 1


def _check_split_factor(problem: Problem, split_factor: int | None) -> None:
    """Refuse a ``split_factor`` whose chunks would be too small to solve."""
    if split_factor is None or split_factor <= (most := max_split_factor(problem)):
        return
    rows, cols = problem.overlap
    factor = problem.spec.fixed_factor
    raise CoregError(
        f"split_factor={split_factor} is too large for this pair: its overlap of "
        f"{(rows.stop - rows.start) // factor} x {(cols.stop - cols.start) // factor} solve "
        f"pixels allows at most split_factor={most}, for chunks of at least "
        f"{MIN_CHUNK_PIXELS} x {MIN_CHUNK_PIXELS} solve pixels"
    )


def register(
    moving: xr.DataArray | xr.Dataset,
    fixed: xr.DataArray | xr.Dataset,
    *,
    moving_band: int | Hashable = 0,
    fixed_band: int | Hashable = 0,
    edge_proxy: bool = True,
    stages: Sequence[Stage] = STAGES,
    moving_nodata: float | None = None,
    fixed_nodata: float | None = None,
    min_valid_fraction: float = 0.01,
    solve_resolution: float | None = None,
    split_factor: int | None = None,
    max_shift: float = 50.0,
    on_failure: OnFailure = "raise",
    moving_mask: MaskArg = None,
    fixed_mask: MaskArg = None,
    mask_dilation: int = MASK_DILATION,
    cloud_guard: bool | CloudSide = True,
    compute: bool = True,
) -> RigidTransform | TransformSeries | LazyTransformSeries | Delayed:
    """Estimate the rigid transform that aligns ``moving`` to ``fixed``.

    Area-based: a translation stage then a rigid (rotation + translation) stage maximise the
    Mattes mutual information of one band of each raster, by default on edge proxies (gradient
    magnitude over valid pixels). Only pixels valid in both rasters drive the metric.

    Parameters
    ----------
    moving : xarray.DataArray or xarray.Dataset
        The raster to align (source), georeferenced (``spatial_ref`` / ``.rio.crs``).
    fixed : xarray.DataArray or xarray.Dataset
        The reference raster, in the same CRS, overlapping ``moving``.
    moving_band, fixed_band : int or hashable
        The registration band of each: a position on the band dim (or among a Dataset's raster
        variables), or a band label, description or variable name.
    edge_proxy : bool
        Register gradient-magnitude images (default) or, when False, raw values.
    stages : sequence of str
        ``("translation", "rigid")`` (default), or either alone.
    moving_nodata, fixed_nodata : float, optional
        Override the nodata value read from the metadata (``rio.nodata``, a ``nodata`` attr,
        ``_FillValue``); NaN is always nodata in float data.
    min_valid_fraction : float
        Smallest share of the overlap's solve-grid pixels that must be valid in both rasters;
        below it the solve is refused as poorly constrained.
    solve_resolution : float, optional
        Pixel size of the solve grid in CRS units; default the reference's pixel size. It is
        rounded to a whole multiple of the reference pixel size, so that the solve grid is the
        reference grid block-averaged, never resampled.
    split_factor : int, optional
        ``k``: solve ``2**k`` overlapping chunks as independent dask tasks and fit one rigid
        transform to anchors sampled in the good ones (robust to chunks that clouds or change
        mislead). 0: one solve over the whole overlap. None (default): 0 for numpy input, and
        for dask input chunks of about 2048 x 2048 solve pixels. At most what keeps every chunk
        at least 64 x 64 solve pixels (the error names the largest for the pair).

    max_shift : float
        Largest believable displacement of any pixel of the overlap, in reference pixels;
        beyond it the fit is taken as diverged.
    on_failure : {"raise", "warn"}
        When the fit fails a reliability check (the metric got worse, a shift beyond
        ``max_shift``, stages that disagree, chunks that disagree): raise
        :class:`RegistrationError` (default), or warn with :class:`RegistrationWarning` and
        return the fit flagged ``diagnostics.reliable = False``.
    moving_mask, fixed_mask : xarray.DataArray or str, optional
        Cloud, shadow or quality masks: boolean, True where pixels must not drive the metric,
        on the raster's grid or on any grid in its CRS that overlaps it (or, for a Dataset, the
        name of such a variable). Make them from quality bands with :func:`landsat_qa_mask`,
        :func:`scl_mask` or :func:`qa_mask`. Only pixels clear in both rasters count, so one
        raster's mask suffices when the other has none. A mask with ``moving``'s time dim is
        taken date by date.
    mask_dilation : int
        Reference pixels by which masked and guard-detected cloud pixels are grown before they
        are excluded (default 3): the soft, bright edges of clouds are the strongest structure
        of an edge proxy, and would otherwise pull the fit towards the clouds.
    cloud_guard : bool or {"auto", "bright", "cold"}
        Exclude the pixels of each registration band that are outliers on its cloud side:
        brighter (reflective bands) or colder (thermal bands) than its clear ground, in addition
        to any mask (it catches what a quality band misses). ``True``/``"auto"`` (default)
        takes the bright side unless cold outliers clearly dominate; ``"bright"``/``"cold"``
        choose it; ``False`` turns the guard off (bright ground that is not cloud). The
        threshold lies 4 times the distance from the lower quartile to the median beyond the
        median, both taken over the pixels on the clear side of the threshold itself (iterated),
        so that it does not grow with cloud cover. The share excluded is in
        ``fit.diagnostics.cloud_excluded``.
    compute : bool
        True (default): return the fits. False: return them lazily, as dask tasks not yet run:
        for a datacube a :class:`~xr_coregix.xr.cube.LazyTransformSeries` (``.compute()``
        returns the :class:`TransformSeries`, ``.persist()`` starts the fits, ``lazy[i]`` is
        the fit of date ``i`` as a ``dask.delayed`` object for tasks of your own), for a
        single pair a :class:`dask.delayed.Delayed` of the :class:`RigidTransform`. Errors on
        the data are then raised when computed.

    Returns
    -------
    RigidTransform or TransformSeries
        Maps the moving raster's georeference to the reference frame, with diagnostics. For a
        datacube (a ``time`` dim, or a dim of datetimes, as ``odc.stac.load`` makes), every
        slice is registered against ``fixed`` and a :class:`TransformSeries` of the fits along
        time is returned; a slice that cannot be registered (all cloud, too little valid data)
        has no fit and its reason is recorded. The slices are registered as independent dask
        tasks, side by side: on the active ``dask.distributed`` client when there is one, on
        dask's threaded scheduler otherwise (``dask.config`` may name another), each reading
        only its own slice; the fits do not depend on the scheduler nor on the number of
        workers (``xr_coregix.xr.cube``). With ``compute=False``, the lazy forms above.

    Raises
    ------
    CoregError
        For an option it does not take, before anything else (the options are checked once,
        as a :class:`~xr_coregix.xr.arguments.RegisterOptions`).
    MissingCRSError, CRSMismatchError, NoOverlapError, InsufficientValidDataError,
    BandSelectionError, GridError, DataTypeError
        On bad input, each naming the argument at fault.
    RegistrationError
        When the fit fails a reliability check and ``on_failure="raise"``.

    Examples
    --------
    >>> import xr_coregix
    >>> moving, fixed = xr_coregix.data.example_pair()
    >>> fit = xr_coregix.register(moving, fixed)
    >>> [round(v, 1) for v in fit.shift_in_pixels(fixed.odc.geobox)]  # columns, rows
    [3.6, 1.9]
    """
    options = RegisterOptions(
        moving_band=moving_band,
        fixed_band=fixed_band,
        edge_proxy=edge_proxy,
        stages=stages,
        moving_nodata=moving_nodata,
        fixed_nodata=fixed_nodata,
        min_valid_fraction=min_valid_fraction,
        solve_resolution=solve_resolution,
        split_factor=split_factor,
        max_shift=max_shift,
        on_failure=on_failure,
        mask_dilation=mask_dilation,
        cloud_guard=cloud_guard,
    )
    return register_with(moving, fixed, options, moving_mask, fixed_mask, compute=compute)


def register_with(
    moving: xr.DataArray | xr.Dataset,
    fixed: xr.DataArray | xr.Dataset,
    options: RegisterOptions,
    moving_mask: MaskArg = None,
    fixed_mask: MaskArg = None,
    *,
    compute: bool = True,
    threads: int = 2,
) -> RigidTransform | TransformSeries | LazyTransformSeries | Delayed:
    """:func:`register` with its options checked already (``align_image_pair`` and the tasks of
    a cube call it): a datacube's dates, a lazy fit, or one pair registered here. ``threads``:
    how many a single solve makes its two bands' images with (1 in a cube's task, which has
    one core's share)."""
    if series_dim(fixed, spatial_dims(fixed, "fixed")) is not None:
        raise BandSelectionError(
            "fixed has a time dim: pass one reference, e.g. fixed.isel(time=0) or a median "
            "composite fixed.median('time')"
        )
    dim = series_dim(moving, spatial_dims(moving, "moving"))
    if dim is not None:
        return _register_series(moving, fixed, dim, options, (moving_mask, fixed_mask), compute)
    if not compute:
        return delayed_fit(moving, fixed, options, (moving_mask, fixed_mask))
    problem = Problem.build(moving, fixed, options, moving_mask, fixed_mask)
    split_factor = options.split_factor
    _check_split_factor(problem, split_factor)
    k = derive_split_factor(problem) if split_factor is None else split_factor
    if k > 0:  # the guard and the global search share one read of every few pixels
        sample = problem.sample()
        problem = problem.guarded(options.cloud_guard, sample)
        fit = register_chunked(problem.without_layer_check(), k, sample)
        fit = refined_and_checked(problem, fit)
    else:  # one read of the overlap serves the guard and the solve
        window = problem.window(*problem.overlap).loaded()
        if options.cloud_guard is not False:
            problem = problem.guarded(options.cloud_guard, problem.sample(window))
        fit = solve_window(window, problem.spec, threads=threads)
    # what apply needs of the reference: part of the fit (and of its equality), not diagnostics
    fit = replace(
        fit, reference_geobox=problem.fixed_box, reference_nodata=problem.spec.fixed_nodata
    )
    return _checked(fit, options.max_shift, options.on_failure, _coarse_hint(problem))


def _coarse_hint(problem: Problem) -> str:
    """Advice for a failed fit of a moving raster much coarser than the solve grid."""
    moving = pixel_size(problem.moving_box)
    reference = pixel_size(problem.fixed_box)
    solve = reference * problem.spec.fixed_factor
    if moving < COARSE_MOVING * reference or solve >= 0.99 * moving:
        return ""
    return (
        f"; the moving raster's pixel ({moving:g}) is {moving / reference:.3g} times the "
        f"reference's ({reference:g}): pass solve_resolution={moving:g} to solve on its pixel "
        "size"
    )


def _checked(
    fit: RigidTransform, max_shift: float, on_failure: OnFailure, hint: str = ""
) -> RigidTransform:
    """Apply the reliability checks: raise, or warn and flag the fit (``hint``: more advice)."""
    found = problems(fit, max_shift)
    if not found:
        return fit
    if on_failure == "raise":
        raise RegistrationError(
            "the fit is not reliable: " + "; ".join(found) + ". Nothing was written; pass "
            "on_failure='warn' to get the fit anyway, flagged unreliable" + hint
        )
    warn_caller("unreliable fit: " + "; ".join(found) + hint)
    return fit.with_diagnostics(replace(fit.diagnostics, reliable=False, problems=found))


def _register_series(
    moving: xr.DataArray | xr.Dataset,
    fixed: xr.DataArray | xr.Dataset,
    dim: Hashable,
    options: RegisterOptions,
    masks: Masks,
    compute: bool = True,
) -> TransformSeries | LazyTransformSeries:
    """Register each slice along ``dim``, each as a dask task (``xr_coregix.xr.cube``);
    slices without enough data get no fit. A cube of one slice is registered here, so that
    its chunk solves (when it has some) still run side by side."""
    if compute and moving.sizes[dim] == 1:
        moving_mask, fixed_mask = masks
        if isinstance(moving_mask, xr.DataArray) and dim in moving_mask.dims:
            moving_mask = moving_mask.isel({dim: 0})
        try:
            fit = register_with(moving.isel({dim: 0}), fixed, options, moving_mask, fixed_mask)
            error = ""
        except DATE_ERRORS as err:
            fit, error = None, str(err)
        index = moving.indexes[dim] if dim in moving.indexes else pd.RangeIndex(1, name=dim)
        return TransformSeries(dim, index, (fit,), (error,))
    lazy = lazy_series(moving, fixed, dim, options, masks)
    return lazy.compute() if compute else lazy
