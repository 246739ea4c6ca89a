"""Mask files for :func:`~xr_coregix.align_image_pair` and ``align-image-pair``: a raster file, or
``"band:N"`` (a band of the input image itself), read as an exclusion mask (True = exclude)."""

from __future__ import annotations

import os

import xarray as xr

from .errors import CoregError
from .io import open_raster
from .options import CHUNK, MASK_KINDS
from .xr.qa import landsat_qa_mask, scl_mask

_LANDSAT_LAYOUTS = {
    "landsat-qa-pixel": "collection2",
    "landsat-bqa": "collection1",
    "landsat-bqa-pre": "pre-collection",
}
BAND_PREFIX = "band:"


def check_kind(kind: str, name: str) -> None:
    """Raise :class:`CoregError` unless ``kind`` is one of :data:`MASK_KINDS`."""
    if not (isinstance(kind, str) and kind in MASK_KINDS):
        raise CoregError(f"{name}={kind!r}: choose one of {', '.join(MASK_KINDS)}")


def _band_number(spec: str, image: xr.DataArray, name: str, image_name: str) -> int:
    text = spec[len(BAND_PREFIX) :].strip()
    count = image.sizes["band"]
    if not text.isdigit():
        raise CoregError(
            f"{name}={spec!r}: write band:N, N a 0-based band index of {image_name} (0 to "
            f"{count - 1})"
        )
    number = int(text)
    if number >= count:
        raise CoregError(
            f"{name}={spec!r} is out of range: {image_name} has {count} band(s), 0-based"
        )
    return number


def _exclusion(values: xr.DataArray, kind: str) -> xr.DataArray:
    """The pixels of a 2-D quality band to exclude, as ``kind`` reads its values."""
    if kind == "scl":
        return scl_mask(values)
    if kind in _LANDSAT_LAYOUTS:
        return landsat_qa_mask(values, layout=_LANDSAT_LAYOUTS[kind])
    exclude = values != 0
    if values.dtype.kind == "f":
        exclude &= values.notnull()
    if values.rio.nodata is not None:  # the file's nodata pixels do not exclude
        exclude &= values != values.rio.nodata
    return exclude.rename("exclude")


def open_mask(
    mask: str | os.PathLike[str] | None,
    kind: str,
    image: xr.DataArray,
    *,
    name: str,
    kind_name: str,
    image_name: str,
) -> xr.DataArray | None:
    """The exclusion mask that ``mask`` and ``kind`` describe (lazy), or None without ``mask``.

    Parameters
    ----------
    mask : path-like or str, optional
        A single-band raster file in ``image``'s CRS, or ``"band:N"``: band ``N`` (0-based) of
        ``image`` itself.
    kind : str
        How its values become "exclude": one of :data:`MASK_KINDS`.
    image : xarray.DataArray
        The input raster the mask belongs to, ``(band, y, x)`` as :func:`open_raster` reads it.
    name, kind_name, image_name : str
        The arguments (keywords or flags) of ``mask``, ``kind`` and ``image``, for messages.

    Returns
    -------
    xarray.DataArray of bool or None
        True where pixels are to be kept out of the metric, on the mask raster's own grid.

    Raises
    ------
    CoregError
        On a bad kind, a missing or multi-band file, a band out of range, a mask in another CRS
        than ``image`` or a band that ``kind`` cannot read; the message names the argument.
    """
    check_kind(kind, kind_name)
    if mask is None:
        if kind != MASK_KINDS[0]:
            raise CoregError(f"{kind_name}={kind!r} is given without {name}: pass the mask too")
        return None
    if isinstance(mask, str) and mask.startswith(BAND_PREFIX):
        values = image.isel(band=_band_number(mask, image, name, image_name))
    else:
        raster = open_raster(mask, name, chunks=CHUNK)
        if raster.sizes.get("band", 1) != 1:
            raise CoregError(
                f"{name} {os.fspath(mask)!r} has {raster.sizes['band']} bands: a mask file has "
                f"one (for a band of {image_name} itself, pass band:N)"
            )
        values = raster.isel(band=0)
        if values.rio.crs is None:
            raise CoregError(f"{name} {os.fspath(mask)!r} has no CRS: georeference it")
        if image.rio.crs is not None and values.rio.crs != image.rio.crs:
            raise CoregError(
                f"{name} {os.fspath(mask)!r} is in {values.rio.crs} but {image_name} is in "
                f"{image.rio.crs}: reproject the mask (nearest) first"
            )
    try:
        return _exclusion(values, kind)
    except CoregError as err:
        raise type(err)(f"{name} read as {kind_name}={kind!r}: {err}") from err
