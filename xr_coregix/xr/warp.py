"""``apply``: the moving raster under a fitted transform, lazily, on the grid asked for."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr
from dask.base import is_dask_collection
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords

from ..core.transform import RigidTransform
from ..errors import CoregError, CRSMismatchError
from ..options import GRIDS, Grid, Resampling
from .arguments import ApplyOptions
from .blockwarp import warp_block, warp_dask
from .georef import geobox_of, spatial_dims
from .masks import check_dtype, check_nodata, encoded_nodata, nodata_in_memory
from .series import TransformSeries


def corrected_geobox(gbox: GeoBox, fit: RigidTransform) -> GeoBox:
    """The moving grid under its corrected georeference: ``fit.affine @ gbox.affine``."""
    return GeoBox(gbox.shape, fit.affine @ gbox.affine, gbox.crs)


# encoding of decoded (masked) data that a write needs to put the file's values back
ENCODING_KEYS = ("dtype", "rasterio_dtype", "scale_factor", "add_offset", "_Unsigned")


def _output_nodata(source: float | None, fit: RigidTransform, output_nodata: float | None) -> float:
    """Output nodata: explicit, else the source's (in memory: NaN for float data that declares
    none or is decoded), else the reference's, else 0."""
    for value in (output_nodata, source, fit.reference_nodata):
        if value is not None:
            return value
    return 0


def _target(grid: Grid | GeoBox, source: GeoBox, fit: RigidTransform) -> GeoBox:
    """The grid to warp onto (``grid`` checked already, and not ``"native"``)."""
    if isinstance(grid, GeoBox):
        return grid
    if grid == "source":
        return source
    target = fit.reference_geobox
    if target is None:
        raise CoregError(
            "grid='reference' but the fit does not record the reference grid (it was not "
            "made by register): pass the target grid as a GeoBox, grid=fixed.odc.geobox"
        )
    return target


def _apply_array(
    da: xr.DataArray,
    fit: RigidTransform,
    options: ApplyOptions,
    chunks: Mapping[str, int] | int | str | None,
) -> xr.DataArray:
    source = geobox_of(da, "moving")
    check_dtype(da.dtype, "moving")
    if fit.crs is not None and fit.crs != source.crs:
        raise CRSMismatchError(
            f"the fit is in {fit.crs.epsg or fit.crs} but moving is in "
            f"{source.crs.epsg or source.crs}: apply a fit to a raster of the CRS it was made in"
        )
    if chunks is not None:
        da = da.chunk(chunks)
    dims = spatial_dims(da, "moving")
    corrected = corrected_geobox(source, fit)
    grid, output_nodata = options.grid, options.output_nodata
    if grid == "native":
        return da.assign_coords(xr_coords(corrected, dims=dims))
    src_nodata = nodata_in_memory(da)  # NaN for decoded (masked) data, not the file's value
    nodata = _output_nodata(src_nodata, fit, output_nodata)
    label = "output_nodata" if output_nodata is not None else "the output nodata (from the inputs)"
    check_nodata(nodata, da.dtype, label)
    target = _target(grid, source, fit)
    ordered = da.transpose(..., *dims)
    args = (corrected, target, options.resampling, src_nodata, nodata)
    if is_dask_collection(ordered.data):
        data = warp_dask(ordered.data, *args)
    else:
        data = warp_block(np.asarray(ordered.data), *args)
    if grid == "source":
        coords = ordered.coords
    else:  # the reference's (or the given) grid, and the coords off the spatial dims
        mapping = ordered.rio.grid_mapping
        coords = {
            name: coord
            for name, coord in ordered.coords.items()
            if name != mapping and not set(coord.dims) & set(dims)
        }
        coords.update(xr_coords(target, dims=dims))
    out = xr.DataArray(data, dims=ordered.dims, coords=coords, attrs=da.attrs)
    if "nodata" in out.attrs:  # odc-style nodata attribute
        out.attrs["nodata"] = nodata
    out = out.transpose(*da.dims)
    encoded = encoded_nodata(da)
    if encoded is not None and math.isnan(nodata):
        # decoded in, decoded out: NaN in memory, the file's nodata (and dtype) in the encoding
        out.encoding = {k: da.encoding[k] for k in ENCODING_KEYS if k in da.encoding}
        out = out.rio.write_nodata(encoded, encoded=True)
    else:
        out = out.rio.write_nodata(nodata, encoded=False)
    return out.rename(da.name)


def apply(
    moving: xr.DataArray | xr.Dataset,
    fit: RigidTransform | TransformSeries,
    *,
    grid: Grid | GeoBox = "source",
    resampling: Resampling = "bilinear",
    output_nodata: float | None = None,
    chunks: Mapping[str, int] | int | str | None = None,
) -> Any:
    """The moving raster aligned by ``fit``, lazily.

    Parameters
    ----------
    moving : xarray.DataArray or xarray.Dataset
        The raster the fit was made for; every band and extra dim is warped (for a Dataset,
        every variable with the spatial dims).
    fit : RigidTransform or TransformSeries
        From :func:`register`; a series (from a datacube) warps each slice with its own fit.
    grid : {"source", "reference", "native"} or GeoBox
        ``"source"``: the moving raster's own grid, values resampled. ``"reference"``: the
        reference's grid. ``"native"``: values untouched under the corrected (possibly rotated)
        georeference: lossless. A GeoBox: that grid.
    resampling : str
        Resampling of values: ``"bilinear"`` (default), ``"nearest"`` for categories, or any
        other GDAL method name.
    output_nodata : float, optional
        Nodata of the output; default the source's (NaN for float data that declares none),
        else the reference's, else 0. Decoded input (``open_rasterio(masked=True)``: NaN in
        memory, the file's nodata in ``encoding["_FillValue"]``) stays decoded: NaN wherever
        there is no data, the file's nodata and dtype in the encoding.
    chunks : optional
        Rechunk the input with dask first, so that the result is lazy.

    Returns
    -------
    xarray.DataArray or xarray.Dataset
        Carrying the CRS and its nodata; dask-backed when the input is (or ``chunks`` is given).

    Raises
    ------
    CoregError
        For a ``grid``, ``resampling`` or ``output_nodata`` it does not take, when called (not
        when the lazy result is computed); for ``grid="reference"`` with a fit that records no
        reference grid.
    CRSMismatchError
        When ``moving`` is not in the CRS of the fit.
    DataTypeError
        For an ``output_nodata`` (or a nodata from the inputs) that the dtype cannot hold.

    Examples
    --------
    >>> import xr_coregix
    >>> moving, fixed = xr_coregix.data.example_pair()
    >>> fit = xr_coregix.register(moving, fixed)
    >>> aligned = xr_coregix.apply(moving, fit, grid="reference", chunks=128)  # lazy
    >>> aligned.odc.geobox == fixed.odc.geobox, aligned.dtype, int(aligned.rio.nodata)
    (True, dtype('uint16'), 0)
    """
    options = ApplyOptions(grid=grid, resampling=resampling, output_nodata=output_nodata)
    return apply_with(moving, fit, options, chunks)


def apply_with(
    moving: xr.DataArray | xr.Dataset,
    fit: RigidTransform | TransformSeries,
    options: ApplyOptions,
    chunks: Mapping[str, int] | int | str | None = None,
) -> Any:
    """:func:`apply` with its options checked already (``align_image_pair`` calls it)."""
    if isinstance(fit, TransformSeries):
        return _apply_series(moving, fit, options, chunks)
    if isinstance(moving, xr.Dataset):
        dims = set(spatial_dims(moving, "moving"))
        warped = {
            name: _apply_array(var, fit, options, chunks)
            for name, var in moving.data_vars.items()
            if dims <= set(var.dims)
        }
        return xr.Dataset(warped, attrs=moving.attrs)
    return _apply_array(moving, fit, options, chunks)


def _apply_series(
    moving: xr.DataArray | xr.Dataset,
    series: TransformSeries,
    options: ApplyOptions,
    chunks: Mapping[str, int] | int | str | None,
) -> Any:
    """Warp each slice along the series' dim with its own fit; a slice without a fit becomes
    nodata (rather than a raster that was never aligned)."""
    dim = series.dim
    if moving.sizes.get(dim) != len(series):
        raise CoregError(
            f"the fits run along {dim!r} ({len(series)} of them) but moving has "
            f"{moving.sizes.get(dim)} slices along it: apply them to the cube they were made for"
        )
    done = next((f for f in series if f is not None), None)
    if done is None:
        raise CoregError("no slice of the series could be registered: nothing to apply")
    slices = []
    for i, fit in enumerate(series):
        part = moving.isel({dim: i})
        warped = apply_with(part, fit or done, options, chunks)
        if fit is None:
            warped = _all_nodata(warped)
        slices.append(warped)
    return xr.concat(slices, dim=dim, combine_attrs="override")


def _all_nodata(obj: xr.DataArray | xr.Dataset) -> xr.DataArray | xr.Dataset:
    if isinstance(obj, xr.Dataset):
        return obj.map(_all_nodata, keep_attrs=True)
    out = obj.where(False, obj.rio.nodata).astype(obj.dtype)
    out.encoding = dict(obj.encoding)  # a decoded slice keeps its encoded nodata
    return out


__all__ = ["GRIDS", "apply", "corrected_geobox"]
