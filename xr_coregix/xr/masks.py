"""Nodata values from xarray metadata, and validity masks."""

from __future__ import annotations

import math

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from ..errors import DataTypeError


def nodata_of(da: xr.DataArray, override: float | None = None) -> float | None:
    """The nodata value of ``da``: ``override``, else its metadata, else None.

    Metadata is looked up in this order: ``_FillValue`` in the attrs or the encoding (as
    rioxarray writes it), a ``nodata`` attr (as odc-stac and odc-geo write it), then
    ``da.rio.nodata``. The raw values come first: a value the dtype cannot hold must reach the
    caller's check as it is (some rioxarray versions silently wrap it into the dtype).
    """
    if override is not None:
        return float(override)
    for value in (
        da.attrs.get("_FillValue"),
        da.encoding.get("_FillValue"),
        da.attrs.get("nodata"),
    ):
        if value is not None:
            return float(value)
    try:
        declared = da.rio.nodata
    except (OverflowError, ValueError):
        return None
    return None if declared is None else float(declared)


def encoded_nodata(da: xr.DataArray) -> float | None:
    """The file nodata of decoded (masked) float data, else None.

    ``rioxarray.open_rasterio(path, masked=True)`` (and ``rio.write_nodata(v, encoded=True)``)
    put NaN where the file holds its nodata and move the nodata to ``encoding["_FillValue"]``:
    in memory NaN is the nodata, and the encoded value is what a write puts back. A
    ``_FillValue`` in the attrs, or data that cannot hold NaN, is a nodata in memory instead.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> da = xr.DataArray(np.array([[np.nan, 1.0]], np.float32), dims=("y", "x"))
    >>> da.encoding["_FillValue"] = 0
    >>> encoded_nodata(da), nodata_in_memory(da)
    (0.0, nan)
    """
    if np.dtype(da.dtype).kind != "f" or "_FillValue" in da.attrs:
        return None
    value = da.encoding.get("_FillValue")
    return None if value is None else float(value)


def nodata_in_memory(da: xr.DataArray) -> float | None:
    """The value that marks nodata in ``da``'s values: NaN for decoded data (see
    :func:`encoded_nodata`), else its metadata (:func:`nodata_of`), else NaN for float data
    (NaN is never valid data) and None for integers."""
    if encoded_nodata(da) is not None:
        return math.nan
    value = nodata_of(da)
    if value is None and np.dtype(da.dtype).kind == "f":
        return math.nan
    return value


def valid_mask(values: np.ndarray, nodata: float | None) -> np.ndarray:
    """Pixels of ``values`` that hold data: not ``nodata`` and, for floats, finite.

    Parameters
    ----------
    values : numpy.ndarray
        Raster values.
    nodata : float or None
        The nodata value; NaN means "NaN is nodata".

    Returns
    -------
    numpy.ndarray of bool
    """
    values = np.asarray(values)
    if np.issubdtype(values.dtype, np.floating):
        ok = np.isfinite(values)
    else:
        ok = np.ones(values.shape, dtype=bool)
    if nodata is not None and not math.isnan(nodata):
        ok &= values != nodata
    return ok


def check_dtype(dtype: np.dtype, name: str) -> None:
    """Raise :class:`DataTypeError` unless ``dtype`` is a real integer or float type."""
    dtype = np.dtype(dtype)
    if dtype.kind not in "iuf":
        raise DataTypeError(
            f"{name} has dtype {dtype}, which cannot be registered or warped: convert it to a "
            "real integer or float type first (e.g. .astype('float32'))"
        )


def check_nodata(value: float | None, dtype: np.dtype, name: str) -> None:
    """Raise :class:`DataTypeError` when ``value`` cannot occur in data of ``dtype``."""
    if value is None:
        return
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        ok = math.isnan(value) or abs(value) <= np.finfo(dtype).max
    else:
        info = np.iinfo(dtype)
        ok = not math.isnan(value) and value == int(value) and info.min <= value <= info.max
    if not ok:
        raise DataTypeError(
            f"{name}={value!r} cannot occur in {dtype} data: choose a value the dtype can hold"
        )
