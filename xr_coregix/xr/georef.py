"""GeoBox and CRS of xarray inputs, and the checks that two inputs can be registered."""

from __future__ import annotations

import odc.geo.xr  # noqa: F401  (registers the .odc accessor)
import xarray as xr
from odc.geo.geobox import GeoBox

from ..errors import CRSMismatchError, GridError, MissingCRSError, NoOverlapError


def spatial_dims(obj: xr.DataArray | xr.Dataset, name: str) -> tuple[str, str]:
    """The (y, x) dim names of ``obj``.

    Raises
    ------
    GridError
        When ``obj`` has no recognisable spatial dims.
    """
    dims = obj.odc.spatial_dims
    if dims is None:
        raise GridError(
            f"{name} has no spatial dims (found {tuple(obj.dims)}): it needs y/x (or "
            "latitude/longitude) dims with 1-D coordinates"
        )
    return dims


def geobox_of(obj: xr.DataArray | xr.Dataset, name: str) -> GeoBox:
    """The GeoBox of ``obj``, from its ``spatial_ref`` / ``rio`` / ``odc`` georeference.

    Parameters
    ----------
    obj : xarray.DataArray or xarray.Dataset
        A georeferenced raster.
    name : str
        The argument's name, for error messages.

    Raises
    ------
    MissingCRSError
        When ``obj`` carries no CRS.
    GridError
        When it has no spatial dims, or a single pixel along one of them.
    """
    dims = spatial_dims(obj, name)
    if any(obj.sizes[d] < 2 for d in dims):
        raise GridError(
            f"{name} has {obj.sizes[dims[0]]} x {obj.sizes[dims[1]]} pixels: a raster needs at "
            "least 2 along each spatial dim to define its grid"
        )
    crs = obj.odc.crs
    if crs is None:
        raise MissingCRSError(
            f"{name} has no CRS: set one, e.g. {name}.rio.write_crs('EPSG:32616'), or load it "
            "with rioxarray.open_rasterio / odc.stac.load, which keep it on 'spatial_ref'"
        )
    gbox = obj.odc.geobox
    if gbox is None or not isinstance(gbox, GeoBox):
        raise GridError(f"{name} has a CRS but no regular grid on its dims {dims}")
    return gbox


def check_pair(moving: GeoBox, fixed: GeoBox) -> None:
    """Raise when two grids are in different CRSs, or do not overlap.

    Raises
    ------
    CRSMismatchError
        With the two CRSs and what to do.
    NoOverlapError
        When the footprints are disjoint.
    """
    if moving.crs != fixed.crs:
        raise CRSMismatchError(
            f"moving is in {_short(moving.crs)} but fixed is in {_short(fixed.crs)}: registration "
            "is not reprojection. Reproject one raster into the other's CRS first, e.g. "
            "moving.odc.reproject(fixed.odc.crs), then register"
        )
    if (
        not moving.extent.intersects(fixed.extent)
        or moving.extent.intersection(fixed.extent).is_empty
        or moving.extent.intersection(fixed.extent).area == 0
    ):
        raise NoOverlapError(
            f"moving (bounds {tuple(round(v, 3) for v in moving.boundingbox)}) and fixed (bounds "
            f"{tuple(round(v, 3) for v in fixed.boundingbox)}) do not overlap: pass rasters "
            "of the same ground"
        )


def _short(crs: object) -> str:
    epsg = getattr(crs, "epsg", None)
    return f"EPSG:{epsg}" if epsg is not None else str(crs)[:60]
