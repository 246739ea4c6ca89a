"""Choosing the one band of a raster that drives registration.

rioxarray labels the bands of a file 1 to N on the ``band`` coordinate (as GDAL counts them),
while xarray positions count from 0: an integer could mean either. :func:`select_band` reads an
integer as a label first where the band dim has integer labels, and refuses an integer whose
two readings select different bands, so that a band number never silently means another band.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from numbers import Integral
from typing import Any

import numpy as np
import xarray as xr

from ..errors import BandSelectionError
from .georef import spatial_dims

#: the keys of the explicit forms ``{"label": value}`` and ``{"position": int}``
KINDS = ("label", "position")


def _spatial_variables(ds: xr.Dataset, name: str) -> list[Hashable]:
    dims = set(spatial_dims(ds, name))
    return [k for k, v in ds.data_vars.items() if dims <= set(v.dims)]


def _is_int(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, (bool, np.bool_))


def _shown(value: Any) -> str:
    return str(int(value)) if _is_int(value) else repr(value)


def _explicit(band: Mapping, name: str) -> tuple[str, Any]:
    """``("label", value)`` or ``("position", int)`` from ``{"label": value}`` /
    ``{"position": int}``."""
    if len(band) != 1 or next(iter(band)) not in KINDS:
        raise BandSelectionError(
            f"{name}={dict(band)!r}: pass a band as {{'label': value}} or {{'position': int}} "
            "(or a plain value)"
        )
    kind, value = next(iter(band.items()))
    if kind == "position" and not _is_int(value):
        raise BandSelectionError(f"{name}={dict(band)!r}: a position is a whole number (0-based)")
    return kind, value


def select_band(
    obj: xr.DataArray | xr.Dataset, band: int | Hashable | Mapping[str, Any], name: str
) -> xr.DataArray:
    """The 2-D registration band of ``obj``.

    Parameters
    ----------
    obj : xarray.DataArray or xarray.Dataset
        The raster.
    band : int, hashable, or {"label": value} or {"position": int}
        Which band, on the DataArray's one non-spatial dim (``band`` for rioxarray) or among
        the Dataset's variables that have the spatial dims:

        - ``{"position": i}``: the ``i``-th band (0-based, negative from the end) or variable;
        - ``{"label": v}``: the band whose coordinate value (or description, ``long_name``) is
          ``v``, or the variable named ``v``;
        - an ``int`` on a dim with integer labels (rioxarray's 1 to N): the band with that
          label, else the band at that position; when it is both a label and a position of
          different bands (``1`` on bands ``[1, 2, 3]``: label 1 is the first band, position 1
          the second) it is refused as ambiguous. So on a rioxarray raster ``0`` is the first
          band, ``N`` the last, and ``1`` the only band of a single-band file;
        - an ``int`` elsewhere (a dim without integer labels, or a Dataset): a position;
        - anything else: a label, description or variable name.
    name : str
        The argument's name (``"moving_band"``), for error messages.

    Returns
    -------
    xarray.DataArray
        2-D, with the spatial dims and the georeference coordinates of ``obj``.

    Raises
    ------
    BandSelectionError
        When the band does not exist, an integer is ambiguous, or what it selects is not 2-D.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> da = xr.DataArray(
    ...     np.zeros((3, 2, 2)), dims=("band", "y", "x"),
    ...     coords={"band": [1, 2, 3], "y": [1.5, 0.5], "x": [0.5, 1.5]},
    ... )
    >>> [int(select_band(da, b, "band").band) for b in (0, 3, {"label": 2}, {"position": 2})]
    [1, 3, 2, 3]
    >>> select_band(da, 1, "moving_band")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    xr_coregix.errors.BandSelectionError: moving_band=1 is ambiguous: label 1 is position 0, ...
    """
    kind = None
    if isinstance(band, Mapping):
        kind, band = _explicit(band, name)
        shown = f"{{{kind!r}: {_shown(band)}}}"
    else:
        shown = _shown(band)
    if isinstance(obj, xr.Dataset):
        return _select_variable(obj, band, kind, name, shown)
    sdims = spatial_dims(obj, name)
    other = [d for d in obj.dims if d not in sdims]
    if not other:
        if kind != "label" and band in (0, -1, None):
            return obj
        raise BandSelectionError(
            f"{name}={shown} but the raster has a single band (dims {tuple(obj.dims)}); pass 0"
        )
    if len(other) > 1:
        raise BandSelectionError(
            f"{name} selects on one non-spatial dim, but the raster has {other}: the "
            "registration band must be 2-D. Select the other dims first (e.g. .isel(time=0))"
        )
    dim = other[0]
    size = obj.sizes[dim]
    labels = obj[dim].values.tolist() if dim in obj.coords else []
    integer_labels = dim in obj.coords and np.issubdtype(obj[dim].dtype, np.integer)
    if kind == "position" or (kind is None and _is_int(band)):
        position = int(band) if -size <= band < size else None
        label_at = None
        if kind is None and integer_labels and band in labels:
            label_at = labels.index(band)
        if label_at is None and position is None:
            known = f", labels {labels}" if integer_labels and kind is None else ""
            raise BandSelectionError(
                f"{name}={shown} is out of range: dim {dim!r} has {size} bands (positions 0 to "
                f"{size - 1}{known})"
            )
        if label_at is not None and position is not None and label_at != position % size:
            raise BandSelectionError(
                f"{name}={band} is ambiguous: label {band} is position {label_at}, position "
                f"{band} is label {labels[position]} (rioxarray numbers bands from 1, as GDAL "
                f"does); pass {name}={{'label': {band}}} or {name}={{'position': {band}}} to "
                "choose"
            )
        return obj.isel({dim: position if label_at is None else label_at})
    if band in labels:
        return obj.isel({dim: labels.index(band)})
    descriptions = obj.attrs.get("long_name")
    if isinstance(descriptions, (tuple, list)) and band in descriptions:
        return obj.isel({dim: list(descriptions).index(band)})
    raise BandSelectionError(
        f"{name}={shown} is "
        + ("not a label" if kind == "label" else "neither a position nor a label")
        + f" of dim {dim!r} (labels {labels}"
        + (
            f", descriptions {list(descriptions)}"
            if isinstance(descriptions, (tuple, list))
            else ""
        )
        + ")"
    )


def _select_variable(
    ds: xr.Dataset, band: Any, kind: str | None, name: str, shown: str
) -> xr.DataArray:
    """A Dataset's raster variable by position (an ``int``, or ``{"position": i}``) or name."""
    names = _spatial_variables(ds, name)
    if kind == "position" or (kind is None and _is_int(band)):
        if not -len(names) <= band < len(names):
            raise BandSelectionError(
                f"{name}={shown} is out of range: the Dataset has {len(names)} raster "
                f"variables {names}; pass a position below {len(names)} or a name"
            )
        da = ds[names[int(band)]]
    elif band in names:
        da = ds[band]
    else:
        raise BandSelectionError(
            f"{name}={shown} is not a raster variable of the Dataset; choose one of {names}"
        )
    return _check_2d(da.assign_coords(ds.coords), name)


def _check_2d(da: xr.DataArray, name: str) -> xr.DataArray:
    if da.ndim != 2:
        raise BandSelectionError(
            f"{name} selects variable {da.name!r} with dims {tuple(da.dims)}, not 2-D: select "
            "its other dims first (e.g. ds.isel(time=0))"
        )
    return da
