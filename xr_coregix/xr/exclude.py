"""User masks (cloud, shadow, quality: True = exclude) put on the grid of a registration band."""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np
import xarray as xr
from odc.geo.xr import xr_reproject

from ..core.grid import covering_roi
from ..errors import CoregError, CRSMismatchError, DataTypeError, GridError
from .georef import geobox_of, spatial_dims

MaskArg = xr.DataArray | Hashable | None


def _as_dataarray(mask: MaskArg, obj: xr.DataArray | xr.Dataset, name: str) -> xr.DataArray:
    if isinstance(mask, xr.DataArray):
        return mask
    if isinstance(obj, xr.Dataset) and isinstance(mask, Hashable) and mask in obj.data_vars:
        return obj[mask]
    where = (
        f"a variable of the Dataset ({list(obj.data_vars)})" if isinstance(obj, xr.Dataset) else ""
    )
    raise CoregError(
        f"{name}={mask!r} is not a mask: pass a boolean DataArray (True = exclude)"
        + (f" or the name of {where}" if where else "")
        + "; make one from a quality band with xr_coregix.landsat_qa_mask, scl_mask or qa_mask"
    )


def _squeezed(mask: xr.DataArray, name: str) -> xr.DataArray:
    ydim, xdim = spatial_dims(mask, name)
    extra = [d for d in mask.dims if d not in (ydim, xdim)]
    if any(mask.sizes[d] != 1 for d in extra):
        raise CoregError(
            f"{name} has dims {tuple(mask.dims)}: a mask must be 2-D (one band); select or "
            "combine its bands first, e.g. mask.any('band')"
        )
    mask = mask.squeeze(extra, drop=True) if extra else mask
    if mask.dtype != bool:
        raise DataTypeError(
            f"{name} has dtype {mask.dtype}: pass a boolean mask, True where pixels are to be "
            "excluded (e.g. qa == 9, or xr_coregix.qa_mask(qa, values=[...]))"
        )
    return mask.transpose(ydim, xdim)


def mask_on_grid(
    mask: MaskArg, obj: xr.DataArray | xr.Dataset, band: xr.DataArray, name: str
) -> xr.DataArray | None:
    """``mask`` on the grid of ``band`` (lazy when it is), or None when no mask is given.

    Parameters
    ----------
    mask : xarray.DataArray, hashable or None
        A boolean DataArray (True = exclude) on ``band``'s grid or on any grid in its CRS that
        overlaps it, or the name of a variable of ``obj`` (a Dataset).
    obj : xarray.DataArray or xarray.Dataset
        The raster the mask belongs to.
    band : xarray.DataArray
        Its 2-D registration band (y, x).
    name : str
        The argument's name, for error messages.

    Returns
    -------
    xarray.DataArray or None
        Boolean, with ``band``'s dims and coords. A mask on a finer grid excludes a band pixel
        when any of its mask pixels is set; on a coarser one, the mask pixel the band pixel
        centre falls in. Band pixels outside the mask's footprint are not excluded (a 30 m
        quality band may stop a row short of its 15 m panchromatic band).

    Raises
    ------
    CoregError, DataTypeError, CRSMismatchError, GridError
        When ``mask`` is not a boolean 2-D raster in ``band``'s CRS overlapping it.
    """
    if mask is None:
        return None
    mask = _squeezed(_as_dataarray(mask, obj, name), name)
    target = band.odc.geobox
    crs = mask.odc.crs
    if crs is not None and crs != target.crs:
        raise CRSMismatchError(
            f"{name} is in {crs} but its raster is in {target.crs}: reproject the mask first "
            "(nearest), e.g. mask.odc.reproject(raster.odc.geobox, resampling='nearest')"
        )
    if mask.shape == band.shape and all(
        np.array_equal(mask[m].values, band[d].values)
        for m, d in zip(mask.dims, band.dims, strict=True)
    ):  # on the band's grid (a mask made from the band keeps its coordinates, if not its CRS)
        return _plain(mask.rename(dict(zip(mask.dims, band.dims, strict=True))), band)
    grid = geobox_of(mask, name)
    rows, cols = covering_roi(grid, target)
    if grid[rows, cols].is_empty():
        raise GridError(
            f"{name} (bounds {tuple(round(v, 3) for v in grid.boundingbox)}) does not overlap its "
            f"raster (bounds {tuple(round(v, 3) for v in target.boundingbox)}): pass the mask of "
            "that raster"
        )
    if grid[rows, cols] == target:  # the same lattice, wider
        return _plain(mask[rows, cols], band)
    finer = max(abs(grid.resolution.x), abs(grid.resolution.y)) < max(
        abs(target.resolution.x), abs(target.resolution.y)
    )
    warped = xr_reproject(
        mask[rows, cols].astype(np.uint8),
        target,
        resampling="max" if finer else "nearest",
        dst_nodata=0,
    )
    warped = warped.rename(dict(zip(spatial_dims(warped, name), band.dims, strict=True)))
    return _plain(warped > 0, band)


def _plain(mask: xr.DataArray, band: xr.DataArray) -> xr.DataArray:
    """``mask`` with ``band``'s coordinates, and no attributes (no nodata: it is a mask)."""
    out = mask.assign_coords(band.coords)
    out.attrs = {}
    out.encoding = {}
    return out
