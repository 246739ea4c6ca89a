"""Files: open GeoTIFFs and write them atomically, block by block."""

from __future__ import annotations

import math
import os
import re
import signal
import socket
import threading
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.errors
import rasterio.shutil
import rioxarray
import xarray as xr
from dask.base import tokenize
from xarray.backends import BackendArray
from xarray.core import indexing

from .errors import RasterIOError
from .xr.blockwarp import warp_dtype
from .xr.masks import nodata_in_memory


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
        Passed to ``open_rasterio``. ``lock`` defaults to False: each read opens the file
        anew, and the blocks of a file decode in parallel (rioxarray's default lock makes every
        read of the process wait for the one before: ``register`` on a 32768 x 32768 pair took
        21.3 s with it, 12.8 s without).

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
    chunks = kwargs.pop("chunks", None)
    cache = kwargs.pop("cache", None)
    kwargs.setdefault("lock", False)
    try:
        # opened without dask: the reads are wrapped first, so that their errors name the file
        da = rioxarray.open_rasterio(path, cache=False, **kwargs)
    except (rasterio.errors.RasterioError, OSError, ValueError) as err:
        raise RasterIOError(
            f"{name} {os.fspath(path)!r} is not a readable raster: {err}".rstrip()
        ) from err
    if isinstance(da, list):
        raise RasterIOError(f"{name} {os.fspath(path)!r} holds subdatasets: open one of them")
    da = _named_reads(da, path, name, cache=chunks is None and cache is not False)
    if chunks is None:
        return da
    # the keys rioxarray would give: the same file opened again shares them (unless prefixed)
    token = tokenize(os.path.realpath(path), os.path.getmtime(path), chunks, repr(kwargs))
    return da.chunk(chunks, name_prefix=name_prefix or "open_rasterio-", token=token)


class _NamedReads(BackendArray):
    """A raster file's reads (rioxarray's backend array), their errors naming the file: a
    truncated or damaged file fails only when a block is read, inside a dask task."""

    def __init__(self, array: BackendArray, path: str, name: str) -> None:
        self.array, self.path, self.name = array, path, name
        self.shape, self.dtype = array.shape, array.dtype

    def __getitem__(self, key: Any) -> Any:
        try:
            return self.array[key]
        except (rasterio.errors.RasterioError, OSError) as err:
            cause = err.__cause__ or err.__context__ or err
            raise RasterIOError(
                f"{self.name} {self.path!r} could not be read (a truncated or damaged file?): "
                f"{cause}"
            ) from err


def _named_reads(da: Any, path: str | os.PathLike[str], name: str, *, cache: bool) -> Any:
    """``da`` (as ``open_rasterio`` makes it without dask) reading through :class:`_NamedReads`,
    cached in memory when ``cache``; another layout (a Dataset of bands) is returned as is."""
    data = getattr(getattr(da, "variable", None), "_data", None)
    lazy = getattr(data, "array", None)
    if not (
        isinstance(data, indexing.CopyOnWriteArray)
        and isinstance(lazy, indexing.LazilyIndexedArray)
        and isinstance(lazy.array, BackendArray)
        and lazy.shape == lazy.array.shape
    ):
        return da
    reads = _NamedReads(lazy.array, os.fspath(path), name)
    wrapped = indexing.CopyOnWriteArray(indexing.LazilyIndexedArray(reads))
    return da.copy(deep=False, data=indexing.MemoryCachedArray(wrapped) if cache else wrapped)


def check_target(path: str | os.PathLike[str], name: str = "the output") -> None:
    """Raise :class:`RasterIOError` unless a file can be written at ``path``.

    ``name`` is the argument ``path`` came from (``"--output-image"``), for the message.
    """
    path = Path(path)
    folder = path.parent
    if path.is_dir():
        raise RasterIOError(
            f"{name} {os.fspath(path)!r} is a folder: give the path of a file to write"
        )
    if not folder.is_dir():
        raise RasterIOError(
            f"the output folder {os.fspath(folder)!r} of {name} does not exist: create it first"
        )
    if not os.access(folder, os.W_OK):
        raise RasterIOError(f"the output folder {os.fspath(folder)!r} of {name} is not writable")


# Partial files: an output is written beside its path, as ".<name>.<host>-<pid>-<random>.partial",
# and renamed onto it when complete. This process's are removed when SIGTERM or SIGINT ends it
# during a write; those of a process that died without a word (SIGKILL) by the next write of
# the same output, once no process of that PID lives on this host.
PARTIAL = ".partial"
_HOST = f"{zlib.crc32(socket.gethostname().encode()):08x}"  # another host's PIDs are not ours
_SIGNALS = tuple(getattr(signal, s) for s in ("SIGTERM", "SIGINT") if hasattr(signal, s))
_partials: set[Path] = set()  # this process's partial files
_partials_lock = threading.RLock()
_saved_handlers: dict[int, Any] = {}
_handler_depth = 0  # nested writes in the main thread


def partial_prefix(target: str | os.PathLike[str], pid: int | None = None) -> str:
    """The start of the name of a partial file of ``target`` written by process ``pid``
    (default this one) of this host; a random part and :data:`PARTIAL` follow."""
    return f"{_partial_stem(target)}{os.getpid() if pid is None else pid}-"


def _partial_stem(target: str | os.PathLike[str]) -> str:
    return f".{Path(target).name}.{_HOST}-"


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` may be alive (when in doubt: yes)."""
    if pid <= 0 or os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process
        return True
    return True


def remove_stale_partials(target: str | os.PathLike[str]) -> list[Path]:
    """Remove the partial files of ``target`` left by dead processes of this host (killed by
    SIGKILL, say): those named as :func:`partial_prefix` names them whose PID is not alive.

    Returns
    -------
    list of pathlib.Path
        The files removed.
    """
    target = Path(target)
    pattern = re.compile(re.escape(_partial_stem(target)) + r"(\d+)-[0-9a-f]+" + re.escape(PARTIAL))
    removed = []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return removed
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match and entry.is_file(follow_symlinks=False) and not _alive(int(match[1])):
            try:
                os.unlink(entry.path)
            except OSError:
                continue
            removed.append(Path(entry.path))
    return removed


@contextmanager
def _partial_file(target: Path) -> Iterator[Path]:
    """A new empty partial file of ``target``, removed when the block ends (if still there)
    and when a signal ends the process (:func:`_on_signal`)."""
    while True:
        path = target.parent / f"{partial_prefix(target)}{os.urandom(4).hex()}{PARTIAL}"
        with _partials_lock:  # known before it exists: a signal at any moment removes it
            _partials.add(path)
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            break
        except FileExistsError:
            with _partials_lock:
                _partials.discard(path)
        except BaseException:
            with _partials_lock:
                _partials.discard(path)
            raise
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)
        with _partials_lock:
            _partials.discard(path)


def _on_signal(signum: int, frame: Any) -> None:
    """Remove this process's partial files, then end it by the signal's default action (so
    that its exit status tells the signal)."""
    with _partials_lock:
        partials = list(_partials)
    for path in partials:
        path.unlink(missing_ok=True)
    signal.signal(signum, signal.SIG_DFL)
    signal.raise_signal(signum)
    os._exit(128 + signum)  # not reached: the default action ends the process


@contextmanager
def _partials_removed_on_signals() -> Iterator[None]:
    """While the block runs (a write, in the main thread), SIGTERM and SIGINT whose action is
    the default one (ending the process) remove the partial files first; the previous
    handlers are restored after. A signal with a handler of its own is left to it (Python's
    SIGINT raises KeyboardInterrupt, which unwinds through :func:`atomic_path`, removing the
    file)."""
    global _handler_depth
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if _handler_depth == 0:
        for signum in _SIGNALS:
            if signal.getsignal(signum) is signal.SIG_DFL:
                _saved_handlers[signum] = signal.signal(signum, _on_signal)
    _handler_depth += 1
    try:
        yield
    finally:
        _handler_depth -= 1
        if _handler_depth == 0:
            for signum, previous in _saved_handlers.items():
                if signal.getsignal(signum) is _on_signal:
                    signal.signal(signum, previous)
            _saved_handlers.clear()


@contextmanager
def signals_end_the_process() -> Iterator[None]:
    """For command lines: while the block runs (in the main thread), SIGINT ends the process
    as SIGTERM does, with no traceback and the exit status of the signal (partial files
    removed: see :func:`atomic_path`); the previous handlers are restored after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, signal.SIG_DFL) for s in _SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path beside ``path``, renamed onto it when the block ends without error.

    When anything fails, the temporary file is removed and ``path`` is left as it was: nothing
    half-written is ever at ``path``. When SIGTERM (or SIGINT from a command line) ends the
    process meanwhile, the temporary file is removed too; the partial files of ``path`` that
    killed processes left behind are removed first (:func:`remove_stale_partials`).
    """
    target = Path(path)
    check_target(target)
    remove_stale_partials(target)
    with _partials_removed_on_signals(), _partial_file(target) as tmp_path:
        yield tmp_path
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)  # made 0600; give the file the usual mode
        os.replace(tmp_path, target)


def _same(a: float | None, b: float | None) -> bool:
    """Whether two nodata values are the same (NaN is NaN, None is None)."""
    if a is None or b is None:
        return a is b
    return a == b or (math.isnan(a) and math.isnan(b))


def file_nodata(nodatas: list[float | None], dtype: np.dtype) -> tuple[float | None, np.dtype]:
    """The one nodata and dtype a file of bands with these nodata values (in memory: NaN for
    float data) and this common dtype is written with, so that every band's nodata stays nodata.

    One shared nodata is kept. Otherwise the file nodata is NaN, the dtype promoted to a float
    that holds every value where it is an integer (uint16: float32; int32: float64): NaN can
    never be a valid value, where any number could be one in another band.

    Examples
    --------
    >>> file_nodata([0.0, 0.0], np.dtype("uint16"))
    (0.0, dtype('uint16'))
    >>> file_nodata([float("nan"), 0.0], np.dtype("float32"))
    (nan, dtype('float32'))
    >>> file_nodata([0.0, 65535.0], np.dtype("uint16"))
    (nan, dtype('float32'))
    """
    dtype = np.dtype(dtype)
    if all(_same(v, nodatas[0]) for v in nodatas):
        return nodatas[0], dtype
    return math.nan, dtype if dtype.kind == "f" else np.promote_types(dtype, np.float32)


def _to_file_nodata(
    var: xr.DataArray, nodata: float | None, target: float | None, dtype: np.dtype
) -> xr.DataArray:
    """``var`` as ``dtype``, its nodata pixels holding ``target``."""
    out = var.astype(dtype) if var.dtype != dtype else var
    if nodata is None or _same(nodata, target):
        return out
    # target is NaN here (file_nodata); NaN in float data is nodata already
    return out if math.isnan(nodata) else out.where(var != nodata)


def _as_bands(obj: xr.DataArray | xr.Dataset) -> xr.DataArray:
    """A DataArray with a leading band dim (a Dataset's variables become bands, each one's
    nodata mapped to the file's single nodata)."""
    if isinstance(obj, xr.Dataset):
        names = list(obj.data_vars)
        first = obj[names[0]]
        nodatas = [nodata_in_memory(obj[n]) for n in names]
        common = np.result_type(*(obj[n].dtype for n in names))
        nodata, dtype = file_nodata(nodatas, common)
        bands = {n: _to_file_nodata(obj[n], v, nodata, dtype) for n, v in zip(names, nodatas)}
        da = xr.Dataset(bands, coords=obj.coords).to_dataarray(dim="band")
        da = da.assign_coords(band=names)
        da.attrs = {**first.attrs, "long_name": tuple(str(n) for n in names)}
        da.attrs.pop("_FillValue", None)
        da.encoding = {}
        return da.rio.write_nodata(nodata, encoded=False)
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
        Georeferenced raster, 2-D or (band, y, x); a Dataset's variables become bands. Bands
        with different nodata are written with NaN as the file's nodata (integers promoted to
        a float that holds them), so that every band's nodata stays nodata; float16 is
        written as float32 (GDAL has no float16).
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
    write_dtype = warp_dtype(da.dtype)  # float16 and longdouble: GDAL has no such types
    if write_dtype != da.dtype:
        encoding = {k: v for k, v in da.encoding.items() if k not in ("dtype", "rasterio_dtype")}
        da = da.astype(write_dtype)
        da.encoding = encoding
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
            with _partial_file(Path(path)) as staging:  # a partial too: removed on a signal
                da.rio.to_raster(staging, driver="GTiff", lock=lock or default_lock(), **options)
                rasterio.shutil.copy(
                    staging, tmp, driver="COG", compress=compress, blocksize=blocksize
                )
    return Path(path)
