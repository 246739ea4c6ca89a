"""``trim_edge_invalid``: blank the border artefacts next to a raster's invalid exterior."""

from __future__ import annotations

import math
from collections.abc import Hashable

import dask
import dask.array as dsa
import numpy as np
import xarray as xr

from ..core.trim import (
    EdgeLabels,
    edge_labels,
    exterior_invalid,
    exterior_labels,
    facing,
    label_invalid,
    widen,
    widened_block,
)
from ..errors import CoregError
from .bands import select_band
from .georef import spatial_dims
from .masks import check_nodata, encoded_nodata, nodata_of, valid_mask


def _invalid(values: np.ndarray, nodata: float | None, below: float | None, above: float | None):
    invalid = ~valid_mask(values, nodata)
    if below is not None:
        invalid |= values <= below
    if above is not None:
        invalid |= values >= above
    return invalid


def _edges(invalid: np.ndarray, depth: int) -> np.ndarray:
    """A chunk's edge strips of labels, as the one element of a 1 x 1 object array."""
    labels = label_invalid(invalid)
    strips = edge_labels(labels, depth)
    if labels.max(initial=0) < 1 << 16:  # the strips wait for every chunk's: keep them small
        strips = EdgeLabels(*(s.astype(np.uint16) for s in strips))
    out = np.empty((1, 1), dtype=object)
    out[0, 0] = strips
    return out


def _exterior_table(cells: list[list[np.ndarray]]) -> tuple[list, list]:
    """Each chunk's exterior labels, and the exterior masks of its edge strips."""
    edges = [[cell[0, 0] for cell in line] for line in cells]
    table = exterior_labels(edges)
    strips = [
        [EdgeLabels(*(np.isin(s, labels) for s in chunk)) for chunk, labels in zip(line, keep)]
        for line, keep in zip(edges, table)
    ]
    return table, strips


def _trim_block(
    invalid: np.ndarray, tables: tuple[list, list], depth: int, block_info: dict | None = None
) -> np.ndarray:
    """A chunk's exterior, widened by ``depth`` across its neighbours' facing strips."""
    table, strips = tables
    i, j = block_info[0]["chunk-location"]
    rows, cols = len(strips), len(strips[0])
    around = {
        (di, dj): facing(strips[i + di][j + dj], di, dj, depth)
        for di in (-1, 0, 1)
        for dj in (-1, 0, 1)
        if (di or dj) and 0 <= i + di < rows and 0 <= j + dj < cols
    }
    exterior = np.isin(label_invalid(invalid), table[i][j])
    return widened_block(exterior, around, depth)


def _at_least(chunks: tuple[int, ...], size: int) -> tuple[int, ...]:
    """``chunks`` with chunks smaller than ``size`` merged into a neighbour."""
    out = list(chunks)
    while len(out) > 1 and min(out) < size:
        k = out.index(min(out))
        other = k - 1 if k > 0 else k + 1
        out[min(k, other)] += out.pop(max(k, other))
    return tuple(out)


def check_depth(depth: int, shape: tuple[int, ...], name: str = "depth") -> None:
    """Raise :class:`CoregError` unless ``depth`` is a whole number of pixels from 1 to a
    quarter of the smaller side of a raster of ``shape`` (its last two sizes): a deeper trim
    blanks most of the raster, and its kernel grows with the square of the depth.

    Examples
    --------
    >>> check_depth(8, (320, 320))
    >>> check_depth(100, (1, 320, 320))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    xr_coregix.errors.CoregError: depth=100 is more than a quarter ... (320 px): at most 80
    """
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 1:
        raise CoregError(f"{name}={depth!r} must be a whole number of pixels, 1 or more")
    side = min(shape[-2:])
    limit = max(1, side // 4)
    if depth > limit:
        raise CoregError(
            f"{name}={depth} is more than a quarter of the raster's smaller side ({side} px): "
            f"at most {limit}"
        )


def trim_edge_invalid(
    da: xr.DataArray,
    depth: int = 8,
    detection_band: int | Hashable = 0,
    invalid_below: float | None = None,
    invalid_above: float | None = None,
    nodata: float | None = None,
    first_pass: xr.DataArray | None = None,
) -> xr.DataArray:
    """Set to nodata every pixel within ``depth`` pixels of an invalid area touching the border.

    Warped and resampled rasters often carry a rim of damaged values along the edge of their
    valid footprint (interpolation against nodata, compression halos). The invalid area
    connected to the raster's exterior (nodata, or values ``<= invalid_below`` or
    ``>= invalid_above`` in the detection band) is found and widened by ``depth`` pixels, and
    every band is set to nodata there. Interior holes are not touched. Connectivity to the
    exterior is a property of the whole raster, but no whole-raster mask is formed: a first
    pass labels each chunk's invalid components and keeps only the strips of labels along its
    edges (``depth`` wide), one small table joins them across chunks, and a second pass takes
    each chunk alone and widens its exterior across its neighbours' facing strips. Lazy: with
    dask input nothing is computed until the result is. The second pass waits for the table,
    so dask keeps the blocks of ``da`` the first pass computed until then (about the raster's
    size in memory), unless ``first_pass`` gives that pass its own copy to read: then memory
    follows the chunk.

    Parameters
    ----------
    da : xarray.DataArray
        Georeferenced raster, 2-D or with a band dim.
    depth : int
        Pixels to trim beyond the invalid exterior, from 1 to a quarter of the raster's
        smaller side.
    detection_band : int or hashable
        Band whose validity is tested (a position or a label).
    invalid_below, invalid_above : float, optional
        Values at or beyond these thresholds also count as invalid.
    nodata : float, optional
        The nodata value; default ``da``'s own (``rio.nodata`` and friends), else 0.
    first_pass : xarray.DataArray, optional
        The same raster as ``da`` under its own dask graph (the file opened again with
        another ``name_prefix``, and whatever made ``da`` from it done again), for the first
        pass to read instead of ``da``.

    Returns
    -------
    xarray.DataArray
        Same dims, coords, dtype and attrs as ``da``, declaring its nodata.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from xr_coregix.data import example_pair
    >>> moving, _ = example_pair()
    >>> trimmed = trim_edge_invalid(moving, depth=2)
    >>> int((trimmed == 0).sum()) > int((moving == 0).sum())
    True
    """
    ydim, xdim = spatial_dims(da, "da")
    check_depth(depth, (da.sizes[ydim], da.sizes[xdim]))
    band = select_band(da, detection_band, "detection_band")
    given = nodata is not None
    # masked input (NaN in memory, the file's nodata encoded) stays masked: NaN is its nodata
    encoded = None if given else encoded_nodata(da)
    nodata = math.nan if encoded is not None else nodata_of(da, nodata)
    check_nodata(nodata, da.dtype, "nodata" if given else "the nodata of da")
    fill = 0 if nodata is None else nodata
    band = band.transpose(ydim, xdim)
    if isinstance(band.data, dsa.Array):
        # every chunk at least ``depth`` a side: a chunk's widening reaches its neighbours only
        chunks = tuple(_at_least(c, depth) for c in band.data.chunks)
        invalid = band.data.rechunk(chunks).map_blocks(
            _invalid, nodata, invalid_below, invalid_above, dtype=bool
        )
        first = invalid
        if first_pass is not None:
            if first_pass.shape != da.shape or first_pass.dims != da.dims:
                raise CoregError(
                    f"first_pass has dims {dict(first_pass.sizes)} but da has {dict(da.sizes)}: "
                    "pass the same raster, opened again"
                )
            other = select_band(first_pass, detection_band, "detection_band")
            other = other.transpose(ydim, xdim).data.rechunk(chunks)
            first = other.map_blocks(_invalid, nodata, invalid_below, invalid_above, dtype=bool)
        # first pass: each chunk's edge strips of labels; one small table joins them
        edges = first.map_blocks(
            _edges, depth, chunks=(1, 1), dtype=object, meta=np.empty((0, 0), object)
        )
        tables = dask.delayed(_exterior_table)(edges.to_delayed(optimize_graph=False).tolist())
        # second pass: each chunk alone, with its neighbours' facing strips from the table
        trim = invalid.map_blocks(
            _trim_block, tables, depth, dtype=bool, meta=np.empty((0, 0), bool)
        )
    else:
        trim = widen(
            exterior_invalid(_invalid(band.values, nodata, invalid_below, invalid_above)), depth
        )
    mask = xr.DataArray(trim, dims=(ydim, xdim), coords={ydim: da[ydim], xdim: da[xdim]})
    out = da.where(~mask, np.asarray(fill, dtype=da.dtype)).astype(da.dtype)
    out.attrs = dict(da.attrs)
    out.encoding = dict(da.encoding)
    if encoded is not None:
        return out.rio.write_nodata(encoded, encoded=True)
    return out.rio.write_nodata(fill, encoded=False)
