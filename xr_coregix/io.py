"""Files: open GeoTIFFs and write them atomically, block by block."""

from __future__ import annotations

import os
import tempfile
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import rasterio
import rasterio.errors
import rasterio.shutil
import rioxarray
import xarray as xr

from .errors import CoregError


class RasterIOError(CoregError):
    """A raster could not be read, or an output could not be written where asked.

    Examples
    --------
    >>> open_raster("/no/such.tif", "moving_image_path")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    xr_coregix.io.RasterIOError: moving_image_path '/no/such.tif' does not exist or is not a file
    """


CHUNK = 1024  # pixels a side of the dask blocks files are read and written in
AGAIN = "xr-coregix-again-"  # dask key prefix of a second, independent read of a file


def open_raster(
    path: str | os.PathLike[str], name: str, *, name_prefix: str | None = None, **kwargs: Any
) -> xr.DataArray:
    """Open a raster file with :func:`rioxarray.open_rasterio` (lazily with ``chunks=``).

    Parameters
    ----------
    path : path-like
        The file.
    name : str
        The argument it came from (``"--moving-image"``), for error messages.
    name_prefix : str, optional
        With ``chunks``: the prefix of the dask keys. Every opening of a file gets the same
        keys by default; another prefix makes an independent read of it (which dask does not
        share, nor hold in memory for the other's sake).
    **kwargs
        Passed to ``open_rasterio``.

    Raises
    ------
    RasterIOError
        When the file does not exist or is not a readable raster.

    Examples
    --------
    >>> from xr_coregix.data import example_paths
    >>> moving = open_raster(example_paths()[0], "moving", chunks=128)
    >>> moving.chunks[1]
    (128, 128, 64)
    """
    if not Path(path).is_file():
        raise RasterIOError(f"{name} {os.fspath(path)!r} does not exist or is not a file")
    chunks = kwargs.pop("chunks", None) if name_prefix is not None else None
    try:
        da = rioxarray.open_rasterio(path, **kwargs)
    except (rasterio.errors.RasterioError, OSError, ValueError) as err:
        raise RasterIOError(
            f"{name} {os.fspath(path)!r} is not a readable raster: {err}".rstrip()
        ) from err
    if isinstance(da, list):
        raise RasterIOError(f"{name} {os.fspath(path)!r} holds subdatasets: open one of them")
    return da if chunks is None else da.chunk(chunks, name_prefix=name_prefix)


def check_target(path: Path) -> None:
    """Raise :class:`RasterIOError` unless a file can be written at ``path``."""
    folder = path.parent
    if not folder.is_dir():
        raise RasterIOError(
            f"the output folder {os.fspath(folder)!r} does not exist: create it first"
        )
    if not os.access(folder, os.W_OK):
        raise RasterIOError(f"the output folder {os.fspath(folder)!r} is not writable")


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path beside ``path``, renamed onto it when the block ends without error.

    When anything fails, the temporary file is removed and ``path`` is left as it was: nothing
    half-written is ever at ``path``.
    """
    target = Path(path)
    check_target(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def _as_bands(obj: xr.DataArray | xr.Dataset) -> xr.DataArray:
    """A DataArray with a leading band dim (a Dataset's variables become bands)."""
    if isinstance(obj, xr.Dataset):
        names = list(obj.data_vars)
        first = obj[names[0]]
        da = obj.to_dataarray(dim="band").assign_coords(band=names)
        da.attrs = {**first.attrs, "long_name": tuple(str(n) for n in names)}
        da = da.rio.write_nodata(first.rio.nodata, encoded=False)
        return da
    if obj.ndim == 3 and "long_name" not in obj.attrs:
        labels = obj[obj.dims[0]].values if obj.dims[0] in obj.coords else None
        if labels is not None and all(isinstance(v, str) for v in labels.tolist()):
            obj = obj.copy()
            obj.attrs["long_name"] = tuple(labels.tolist())
    return obj


def default_lock() -> Any:
    """A write lock that works under the active dask scheduler (distributed or threads)."""
    try:
        from distributed import Lock, get_client

        get_client()
    except (ImportError, ValueError):
        return threading.Lock()
    return Lock("xr-coregix-write")


def write_geotiff(
    obj: xr.DataArray | xr.Dataset,
    path: str | os.PathLike[str],
    *,
    cog: bool = False,
    compress: str = "deflate",
    blocksize: int = 512,
    lock: Any = None,
) -> Path:
    """Write a raster to a tiled, compressed GeoTIFF (or COG), atomically.

    Dask-backed data is computed and written block by block, so memory follows the block, not
    the raster. The file is first written beside ``path`` and renamed onto it on success;
    on any failure nothing is left at ``path``.

    Parameters
    ----------
    obj : xarray.DataArray or xarray.Dataset
        Georeferenced raster, 2-D or (band, y, x); a Dataset's variables become bands.
    path : path-like
        Output file; its folder must exist.
    cog : bool
        Write a Cloud Optimized GeoTIFF (with overviews).
    compress : str
        GDAL compression.
    blocksize : int
        Tile size in pixels.
    lock : optional
        Lock for dask writes; default one that works under threads and ``dask.distributed``.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import tempfile, os
    >>> from xr_coregix.data import example_pair
    >>> moving, fixed = example_pair()
    >>> out = write_geotiff(fixed, os.path.join(tempfile.mkdtemp(), "fixed.tif"))
    >>> out.name
    'fixed.tif'
    """
    da = _as_bands(obj)
    options = {"tiled": True, "blockxsize": blocksize, "blockysize": blocksize}
    options["compress"] = compress
    if da.dtype.kind in "iu":
        options["predictor"] = 2
    if da.rio.nodata is not None:
        options["nodata"] = da.rio.nodata
    with atomic_path(path) as tmp, warnings.catch_warnings():
        # a rotated (grid="native") georeference is written as is; rioxarray warns needlessly
        warnings.filterwarnings("ignore", "Transform that is non-rectilinear or with rotation")
        if not cog:
            da.rio.to_raster(tmp, driver="GTiff", lock=lock or default_lock(), **options)
        else:
            with tempfile.TemporaryDirectory(dir=tmp.parent, prefix=".xr-coregix-") as work:
                staging = Path(work) / "staging.tif"
                da.rio.to_raster(staging, driver="GTiff", lock=lock or default_lock(), **options)
                rasterio.shutil.copy(
                    staging, tmp, driver="COG", compress=compress, blocksize=blocksize
                )
    return Path(path)
