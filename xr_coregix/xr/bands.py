"""Choosing the one band of a raster that drives registration."""

from __future__ import annotations

from collections.abc import Hashable

import xarray as xr

from ..errors import BandSelectionError
from .georef import spatial_dims


def _spatial_variables(ds: xr.Dataset, name: str) -> list[Hashable]:
    dims = set(spatial_dims(ds, name))
    return [k for k, v in ds.data_vars.items() if dims <= set(v.dims)]


def select_band(obj: xr.DataArray | xr.Dataset, band: int | Hashable, name: str) -> xr.DataArray:
    """The 2-D registration band of ``obj``.

    Parameters
    ----------
    obj : xarray.DataArray or xarray.Dataset
        The raster.
    band : int or hashable
        An ``int`` is a position: on the DataArray's one non-spatial dim (``band`` for
        rioxarray), or among the Dataset's variables that have the spatial dims. Anything else
        is a label: a coordinate value of that dim, a band description (``long_name``), or a
        Dataset variable name.
    name : str
        The argument's name (``"moving_band"``), for error messages.

    Returns
    -------
    xarray.DataArray
        2-D, with the spatial dims and the georeference coordinates of ``obj``.

    Raises
    ------
    BandSelectionError
        When the band does not exist, or what it selects is not 2-D.
    """
    if isinstance(obj, xr.Dataset):
        names = _spatial_variables(obj, name)
        if isinstance(band, int) and not isinstance(band, bool):
            if not -len(names) <= band < len(names):
                raise BandSelectionError(
                    f"{name}={band} is out of range: the Dataset has {len(names)} raster "
                    f"variables {names}; pass a position below {len(names)} or a name"
                )
            da = obj[names[band]]
        elif band in names:
            da = obj[band]
        else:
            raise BandSelectionError(
                f"{name}={band!r} is not a raster variable of the Dataset; choose one of {names}"
            )
        return _check_2d(da.assign_coords(obj.coords), name)
    sdims = spatial_dims(obj, name)
    other = [d for d in obj.dims if d not in sdims]
    if not other:
        if band in (0, -1, None):
            return obj
        raise BandSelectionError(
            f"{name}={band!r} but the raster has a single band (dims {tuple(obj.dims)}); pass 0"
        )
    if len(other) > 1:
        raise BandSelectionError(
            f"{name} selects on one non-spatial dim, but the raster has {other}: the "
            "registration band must be 2-D. Select the other dims first (e.g. .isel(time=0))"
        )
    dim = other[0]
    size = obj.sizes[dim]
    if isinstance(band, int) and not isinstance(band, bool):
        if not -size <= band < size:
            raise BandSelectionError(
                f"{name}={band} is out of range: dim {dim!r} has {size} bands (positions 0 to "
                f"{size - 1})"
            )
        return obj.isel({dim: band})
    labels = list(obj[dim].values) if dim in obj.coords else []
    if band in labels:
        return obj.isel({dim: labels.index(band)})
    descriptions = obj.attrs.get("long_name")
    if isinstance(descriptions, (tuple, list)) and band in descriptions:
        return obj.isel({dim: list(descriptions).index(band)})
    raise BandSelectionError(
        f"{name}={band!r} is neither a position nor a label of dim {dim!r} (labels {labels}"
        + (
            f", descriptions {list(descriptions)}"
            if isinstance(descriptions, (tuple, list))
            else ""
        )
        + ")"
    )


def _check_2d(da: xr.DataArray, name: str) -> xr.DataArray:
    if da.ndim != 2:
        raise BandSelectionError(
            f"{name} selects variable {da.name!r} with dims {tuple(da.dims)}, not 2-D: select "
            "its other dims first (e.g. ds.isel(time=0))"
        )
    return da
