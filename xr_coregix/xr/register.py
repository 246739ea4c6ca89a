"""``register``: estimate the rigid transform that aligns a moving raster to a fixed one."""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import numpy as np
import xarray as xr
from odc.geo.geobox import GeoBox

from ..core.grid import covering_roi
from ..core.proxy import edge_proxy as make_edge_proxy
from ..core.pyramid import block_reduce
from ..core.solve import STAGES, SolveImage, solve
from ..core.transform import RigidTransform
from ..errors import CoregError, NoOverlapError
from .bands import select_band
from .georef import check_pair, geobox_of, spatial_dims
from .masks import nodata_of, valid_mask

MARGIN_PIXELS = 32  # reference pixels read around the overlap, so shifted content stays in reach


def _pixel_size(gbox: GeoBox) -> float:
    return float(max(abs(gbox.resolution.x), abs(gbox.resolution.y)))


def _read(band: xr.DataArray, gbox: GeoBox, roi: tuple[slice, slice]) -> np.ndarray:
    """Load the ``roi`` of a 2-D band (only that region is read or computed for dask input)."""
    ydim, xdim = spatial_dims(band, "band")
    return np.asarray(band.isel({ydim: roi[0], xdim: roi[1]}).transpose(ydim, xdim).values)


def _solve_image(
    band: xr.DataArray,
    gbox: GeoBox,
    roi: tuple[slice, slice],
    nodata: float | None,
    factor: int,
    edge_proxy: bool,
) -> SolveImage:
    values = _read(band, gbox, roi)
    valid = valid_mask(values, nodata)
    values, valid, box = block_reduce(values, valid, gbox[roi], factor)
    if edge_proxy:
        values, valid = make_edge_proxy(values, valid)
    return SolveImage(values, valid, box)


def _check_fraction(value: float, name: str) -> float:
    if not (isinstance(value, (int, float)) and 0.0 <= float(value) <= 1.0):
        raise CoregError(f"{name}={value!r} must be a number between 0 and 1")
    return float(value)


def _solve_factor(fixed_box: GeoBox, solve_resolution: float | None) -> int:
    """Integer reduction of the reference grid that gives the solve grid."""
    if solve_resolution is None:
        return 1
    if not (isinstance(solve_resolution, (int, float)) and solve_resolution > 0):
        raise CoregError(
            f"solve_resolution={solve_resolution!r} must be a positive pixel size in CRS units"
        )
    return max(1, round(solve_resolution / _pixel_size(fixed_box)))


def register(
    moving: xr.DataArray | xr.Dataset,
    fixed: xr.DataArray | xr.Dataset,
    *,
    moving_band: int | Hashable = 0,
    fixed_band: int | Hashable = 0,
    edge_proxy: bool = True,
    stages: Sequence[str] = STAGES,
    moving_nodata: float | None = None,
    fixed_nodata: float | None = None,
    min_valid_fraction: float = 0.01,
    solve_resolution: float | None = None,
    split_factor: int | None = None,
) -> RigidTransform:
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
        ``None`` or 0: one solve over the whole overlap. Chunked registration (``2**k``
        overlapping chunks) is not available yet.

    Returns
    -------
    RigidTransform
        Maps the moving raster's georeference to the reference frame, with diagnostics.

    Raises
    ------
    MissingCRSError, CRSMismatchError, NoOverlapError, InsufficientValidDataError,
    BandSelectionError, GridError
        On bad input, each naming the argument at fault.

    Examples
    --------
    >>> import xr_coregix
    >>> moving, fixed = xr_coregix.data.example_pair()
    >>> fit = xr_coregix.register(moving, fixed)
    >>> [round(v, 1) for v in fit.shift_in_pixels(fixed.odc.geobox)]  # columns, rows
    [3.6, 1.8]
    """
    min_valid_fraction = _check_fraction(min_valid_fraction, "min_valid_fraction")
    if split_factor not in (None, 0):
        raise CoregError(
            f"split_factor={split_factor!r}: chunked registration is not available in this "
            "version; pass split_factor=None (one solve over the overlap)"
        )
    stages = tuple(stages)
    if not stages or tuple(s for s in STAGES if s in stages) != stages:
        raise CoregError(
            f"stages={stages!r}: pass ('translation', 'rigid'), ('translation',) or ('rigid',)"
        )
    moving_2d = select_band(moving, moving_band, "moving_band")
    fixed_2d = select_band(fixed, fixed_band, "fixed_band")
    moving_box = geobox_of(moving_2d, "moving")
    fixed_box = geobox_of(fixed_2d, "fixed")
    check_pair(moving_box, fixed_box)

    fixed_roi = covering_roi(fixed_box, moving_box)
    overlap_box = fixed_box[fixed_roi]
    if overlap_box.is_empty():
        raise NoOverlapError("moving and fixed share no whole reference pixel: nothing to solve")
    factor = _solve_factor(fixed_box, solve_resolution)
    solve_spacing = factor * _pixel_size(fixed_box)
    margin = (MARGIN_PIXELS + max(overlap_box.shape) // 10) * _pixel_size(fixed_box)
    moving_roi = covering_roi(
        moving_box, overlap_box, pad=math.ceil(margin / _pixel_size(moving_box))
    )
    moving_factor = max(1, math.floor(solve_spacing / _pixel_size(moving_box) + 1e-6))

    reference_nodata = nodata_of(fixed_2d, fixed_nodata)
    fixed_img = _solve_image(fixed_2d, fixed_box, fixed_roi, reference_nodata, factor, edge_proxy)
    moving_img = _solve_image(
        moving_2d,
        moving_box,
        moving_roi,
        nodata_of(moving_2d, moving_nodata),
        moving_factor,
        edge_proxy,
    )
    return solve(
        fixed_img,
        moving_img,
        stages=stages,
        min_valid_fraction=min_valid_fraction,
        edge_proxy=edge_proxy,
        pixel_size=_pixel_size(fixed_box),
        reference_grid=fixed_box,
        reference_nodata=reference_nodata,
    )
