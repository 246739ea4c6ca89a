"""Nodata values from xarray metadata, and validity masks."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr


def nodata_of(da: xr.DataArray, override: float | None = None) -> float | None:
    """The nodata value of ``da``: ``override``, else its metadata, else None.

    Metadata is looked up in this order: ``da.rio.nodata`` (rioxarray's reading of
    ``_FillValue``), a ``nodata`` attr (as odc-stac and odc-geo write it), then ``_FillValue`` in
    the encoding or attrs.
    """
    if override is not None:
        return float(override)
    candidates: list[Any] = [
        da.rio.nodata,
        da.attrs.get("nodata"),
        da.encoding.get("_FillValue"),
        da.attrs.get("_FillValue"),
    ]
    for value in candidates:
        if value is not None:
            return float(value)
    return None


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
