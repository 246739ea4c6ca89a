"""``trim_edge_invalid``: blank the border artefacts next to a raster's invalid exterior."""

from __future__ import annotations

from collections.abc import Hashable
from functools import partial

import dask
import dask.array as dsa
import numpy as np
import xarray as xr

from ..core.trim import (
    edge_labels,
    exterior_invalid,
    exterior_labels,
    label_invalid,
    widen,
)
from ..errors import CoregError
from .bands import select_band
from .georef import spatial_dims
from .masks import nodata_of, valid_mask


def _invalid(values: np.ndarray, nodata: float | None, below: float | None, above: float | None):
    invalid = ~valid_mask(values, nodata)
    if below is not None:
        invalid |= values <= below
    if above is not None:
        invalid |= values >= above
    return invalid


def _edges(invalid: np.ndarray) -> np.ndarray:
    """A chunk's edge labels, as the one element of a 1 x 1 object array."""
    out = np.empty((1, 1), dtype=object)
    out[0, 0] = edge_labels(label_invalid(invalid))
    return out


def _exterior_table(cells: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
    return exterior_labels([[cell[0, 0] for cell in line] for line in cells])


def _exterior_block(
    invalid: np.ndarray, table: list[list[np.ndarray]], block_info: dict | None = None
) -> np.ndarray:
    i, j = block_info[0]["chunk-location"]
    return np.isin(label_invalid(invalid), table[i][j])


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
    pass labels each chunk's invalid components and keeps only the labels along its edges,
    one small table joins them across chunks, and a second pass marks each chunk's
    components that reach the border. Lazy: with dask input nothing is computed until the
    result is. As every block of the second pass waits for the table, dask keeps the blocks of
    ``da`` the first pass computed until then (about the raster's size in memory), unless
    ``first_pass`` gives that pass its own copy to read: then memory follows the chunk.

    Parameters
    ----------
    da : xarray.DataArray
        Georeferenced raster, 2-D or with a band dim.
    depth : int
        Pixels to trim beyond the invalid exterior, at least 1.
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
    if not isinstance(depth, int) or depth < 1:
        raise CoregError(f"depth={depth!r} must be a whole number of pixels, 1 or more")
    band = select_band(da, detection_band, "detection_band")
    nodata = nodata_of(da, nodata)
    fill = 0 if nodata is None else nodata
    ydim, xdim = spatial_dims(da, "da")
    band = band.transpose(ydim, xdim)
    if isinstance(band.data, dsa.Array):
        invalid = band.data.map_blocks(_invalid, nodata, invalid_below, invalid_above, dtype=bool)
        first = invalid
        if first_pass is not None:
            if first_pass.shape != da.shape or first_pass.dims != da.dims:
                raise CoregError(
                    f"first_pass has dims {dict(first_pass.sizes)} but da has {dict(da.sizes)}: "
                    "pass the same raster, opened again"
                )
            other = select_band(first_pass, detection_band, "detection_band")
            other = other.transpose(ydim, xdim).data.rechunk(band.data.chunks)
            first = other.map_blocks(_invalid, nodata, invalid_below, invalid_above, dtype=bool)
        # first pass: each chunk's edge labels; one small table joins them across chunks
        edges = first.map_blocks(_edges, chunks=(1, 1), dtype=object, meta=np.empty((0, 0), object))
        table = dask.delayed(_exterior_table)(edges.to_delayed(optimize_graph=False).tolist())
        exterior = invalid.map_blocks(
            _exterior_block, table, dtype=bool, meta=np.empty((0, 0), bool)
        )
        trim = exterior.map_overlap(
            partial(widen, depth=depth), depth=depth, boundary=False, dtype=bool
        )
    else:
        trim = widen(
            exterior_invalid(_invalid(band.values, nodata, invalid_below, invalid_above)), depth
        )
    mask = xr.DataArray(trim, dims=(ydim, xdim), coords={ydim: da[ydim], xdim: da[xdim]})
    out = da.where(~mask, np.asarray(fill, dtype=da.dtype)).astype(da.dtype)
    out.attrs = dict(da.attrs)
    out.encoding = dict(da.encoding)
    return out.rio.write_nodata(fill, encoded=False)
