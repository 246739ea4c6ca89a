"""Exclusion masks (True: exclude the pixel) from the quality bands of xarray rasters."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import xarray as xr

from ..core import qa as core
from ..errors import BandSelectionError
from .georef import spatial_dims
from .series import series_dim


def _single_band(da: xr.DataArray, name: str) -> xr.DataArray:
    """``da`` with a single-band dim squeezed away: its spatial dims, and a time dim if it has
    one (a cube's quality band, taken date by date by ``register``)."""
    sdims = spatial_dims(da, name)
    time = series_dim(da, sdims)
    other = [d for d in da.dims if d not in (*sdims, time)]
    if any(da.sizes[d] != 1 for d in other):
        raise BandSelectionError(
            f"{name} has dims {dict(da.sizes)}, but a quality band is 2-D, has a single band, or "
            "a time dim: select one band first (e.g. .isel(band=0))"
        )
    return da.squeeze(other)


def _mask(
    da: xr.DataArray, name: str, func: Callable[..., np.ndarray], **kwargs: object
) -> xr.DataArray:
    """``func(values, **kwargs)`` over 2-D ``da``, blockwise and lazy for dask-backed input."""
    da = _single_band(da, name)
    func(np.zeros((0, 0), da.dtype), **kwargs)  # check the arguments now, not at compute time
    # keep_attrs=True keeps the coordinates' attrs (the CRS of spatial_ref); the data's attrs
    # and encoding (_FillValue, nodata, scale_factor...) do not describe a mask: dropped
    out = xr.apply_ufunc(
        func, da, kwargs=kwargs, dask="parallelized", output_dtypes=[bool], keep_attrs=True
    )
    grid_mapping = da.encoding.get("grid_mapping", da.attrs.get("grid_mapping"))
    out.attrs = {}
    out.encoding = {} if grid_mapping is None else {"grid_mapping": grid_mapping}
    return out.rename("exclude")


def _materialized(seq: Iterable[int]) -> Iterable[int]:
    """``seq`` as a tuple, so that the argument check does not use up a generator; anything not
    iterable is left for the core reader to refuse."""
    return tuple(seq) if isinstance(seq, Iterable) else seq


def landsat_qa_mask(
    qa: xr.DataArray,
    layout: str = "collection2",
    *,
    cloud: bool = True,
    cirrus: bool = True,
    shadow: bool = True,
    snow: bool = False,
    confidence: str = "medium",
) -> xr.DataArray:
    """The pixels of a Landsat quality band to exclude: clouds, cirrus, shadows and/or snow.

    See :func:`xr_coregix.core.qa.landsat_qa_clouds` for the bit layouts.

    Parameters
    ----------
    qa : xarray.DataArray
        The quality band (``QA_PIXEL`` or ``BQA``), 2-D or with a single band, of an integer type
        of at least 16 bits.
    layout : {"collection2", "collection1", "pre-collection"}
        The bit layout: Collection 2 ``QA_PIXEL``, Landsat 8 Collection 1 ``BQA``, or Landsat 8
        pre-collection ``BQA`` (which has no cloud shadow field: ``shadow`` is ignored there).
    cloud : bool
        Exclude clouds: flagged, or with a confidence of at least ``confidence``.
    cirrus : bool
        Exclude cirrus, likewise.
    shadow : bool
        Exclude cloud shadows, likewise (not applicable to ``"pre-collection"``).
    snow : bool
        Exclude snow and ice, likewise.
    confidence : {"medium", "low", "high"}
        The lowest confidence that excludes.

    Returns
    -------
    xarray.DataArray of bool
        Named ``"exclude"``, with the 2-D dims and the coordinates (``spatial_ref`` included) of
        ``qa``; dask-backed, and lazy, when ``qa`` is.

    Raises
    ------
    BandSelectionError
        When ``qa`` has more than one band.
    DataTypeError
        When ``qa`` is not of an integer type of at least 16 bits.
    CoregError
        When another argument is not one of its allowed values.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> qa = xr.DataArray(np.array([[21824, 22280], [23888, 21952]], np.uint16), dims=("y", "x"),
    ...                   coords={"y": [15.0, 5.0], "x": [5.0, 15.0]})
    >>> landsat_qa_mask(qa).values.tolist()  # clear, cloud / cloud shadow, clear water
    [[False, True], [True, False]]
    """
    return _mask(
        qa,
        "qa",
        core.landsat_qa_clouds,
        layout=layout,
        cloud=cloud,
        cirrus=cirrus,
        shadow=shadow,
        snow=snow,
        confidence=confidence,
    )


def scl_mask(scl: xr.DataArray, classes: Iterable[int] = core.DEFAULT_SCL_EXCLUDE) -> xr.DataArray:
    """The pixels of a Sentinel-2 L2A scene classification (``SCL``) band in ``classes``.

    See :func:`xr_coregix.core.qa.scl_clouds` for the classes.

    Parameters
    ----------
    scl : xarray.DataArray
        The scene classification, 2-D or with a single band (``odc.stac.load(...).scl.isel(time=0)``
        or a ``SCL`` file read with rioxarray), of an integer type.
    classes : sequence of int
        The classes to exclude, from 0 to 11; by default no data (0), saturated or defective
        (1), cloud shadows (3), clouds of medium and high probability (8, 9), thin cirrus (10).

    Returns
    -------
    xarray.DataArray of bool
        Named ``"exclude"``, with the 2-D dims and the coordinates of ``scl``; lazy when ``scl``
        is dask-backed.

    Raises
    ------
    BandSelectionError
        When ``scl`` has more than one band.
    DataTypeError
        When ``scl`` is not of an integer type.
    CoregError
        When a class is not an integer from 0 to 11.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> scl = xr.DataArray(np.array([[4, 8], [3, 11]], np.uint8), dims=("y", "x"),
    ...                    coords={"y": [15.0, 5.0], "x": [5.0, 15.0]})
    >>> scl_mask(scl).values.tolist()  # vegetation, cloud / shadow, snow
    [[False, True], [True, False]]
    """
    return _mask(scl, "scl", core.scl_clouds, classes=_materialized(classes))


def qa_mask(
    qa: xr.DataArray, *, values: Iterable[int] = (), bits: Iterable[int] = ()
) -> xr.DataArray:
    """The pixels of an integer quality band equal to one of ``values`` or with any of ``bits`` set.

    Parameters
    ----------
    qa : xarray.DataArray
        The quality band, 2-D or with a single band, of an integer type.
    values : sequence of int
        Values to exclude.
    bits : sequence of int
        Bit numbers (0 the least significant) whose being set excludes. At least one of
        ``values`` and ``bits`` must be given.

    Returns
    -------
    xarray.DataArray of bool
        Named ``"exclude"``, with the 2-D dims and the coordinates of ``qa``; lazy when ``qa``
        is dask-backed.

    Raises
    ------
    BandSelectionError
        When ``qa`` has more than one band.
    DataTypeError
        When ``qa`` is not of an integer type.
    CoregError
        When neither ``values`` nor ``bits`` is given, or one does not fit the dtype.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> qa = xr.DataArray(np.array([[0, 1], [2, 255]], np.uint8), dims=("y", "x"),
    ...                   coords={"y": [15.0, 5.0], "x": [5.0, 15.0]})
    >>> qa_mask(qa, values=(255,), bits=(1,)).values.tolist()
    [[False, False], [True, True]]
    """
    core.check_integer(qa.dtype, "qa")
    return _mask(
        qa, "qa", core.values_or_bits, values=_materialized(values), bits=_materialized(bits)
    )
