"""Exceptions raised by xr_coregix.

Every exception class the package defines is here: the errors are subclasses of
:class:`CoregError`, itself a :class:`ValueError`, and their messages name the argument at fault
and what to do about it; :class:`RegistrationWarning` is the one warning, issued
through :func:`warn_caller`.
"""

from __future__ import annotations

import sys
import warnings


class CoregError(ValueError):
    """Base class of the errors xr_coregix raises for bad input.

    Examples
    --------
    >>> import xr_coregix
    >>> moving, fixed = xr_coregix.data.example_pair()
    >>> try:
    ...     xr_coregix.register(moving, fixed, min_valid_fraction=2)
    ... except xr_coregix.CoregError as err:
    ...     print(err)
    min_valid_fraction=2 must be a number between 0 and 1
    """


class MissingCRSError(CoregError):
    """An input raster carries no coordinate reference system.

    Examples
    --------
    >>> import xr_coregix
    >>> moving, fixed = xr_coregix.data.example_pair()
    >>> bare = moving.drop_vars("spatial_ref")
    >>> xr_coregix.register(bare, fixed)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    xr_coregix.errors.MissingCRSError: moving has no CRS: set one, ...
    """


class CRSMismatchError(CoregError):
    """The moving and the fixed raster are in different coordinate reference systems.

    Examples
    --------
    >>> import xr_coregix
    >>> moving, fixed = xr_coregix.data.example_pair()
    >>> xr_coregix.register(moving.rio.write_crs(32617), fixed)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    xr_coregix.errors.CRSMismatchError: moving is in EPSG:32617 but fixed is in EPSG:32616: ...
    """


class NoOverlapError(CoregError):
    """The rasters do not overlap, or overlap too little to solve.

    Examples
    --------
    >>> import xr_coregix
    >>> moving, fixed = xr_coregix.data.example_pair()
    >>> far = moving.assign_coords(x=moving.x + 1e6)
    >>> xr_coregix.register(far, fixed)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    xr_coregix.errors.NoOverlapError: moving (bounds ...) and fixed (bounds ...) do not overlap...
    """


class InsufficientValidDataError(CoregError):
    """Too few pixels are valid in both rasters for a well constrained solve.

    Examples
    --------
    >>> import xr_coregix
    >>> moving, fixed = xr_coregix.data.example_pair()
    >>> xr_coregix.register(moving, fixed, min_valid_fraction=0.99)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    xr_coregix.errors.InsufficientValidDataError: only ...% of the overlap is valid and clear ...
    """


class BandSelectionError(CoregError):
    """A band index, label or variable name does not exist, or selects something not 2-D.

    Examples
    --------
    >>> import xr_coregix
    >>> moving, fixed = xr_coregix.data.example_pair()
    >>> xr_coregix.register(moving, fixed, moving_band=2)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    xr_coregix.errors.BandSelectionError: moving_band=2 is out of range: dim 'band' has 1 bands...
    """


class GridError(CoregError):
    """An input's spatial dims or georeference cannot be used (missing dims, sheared grid...).

    Examples
    --------
    >>> import xr_coregix
    >>> moving, fixed = xr_coregix.data.example_pair()
    >>> xr_coregix.register(moving.isel(x=slice(0, 1)), fixed)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    xr_coregix.errors.GridError: moving has 320 x 1 pixels: a raster needs at least 2 ...
    """


class RegistrationError(CoregError):
    """A solve ran but its result cannot be trusted (too few good chunks, divergence).

    Examples
    --------
    >>> import xr_coregix
    >>> moving, fixed = xr_coregix.data.example_pair()
    >>> xr_coregix.register(moving, fixed, max_shift=1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    xr_coregix.errors.RegistrationError: the fit is not reliable: the fit moves pixels up to ...
    """


class NoStructureError(CoregError):
    """A registration band has no structure to register (constant over its valid pixels).

    Examples
    --------
    >>> import xr_coregix
    >>> moving, fixed = xr_coregix.data.example_pair()
    >>> xr_coregix.register(moving * 0 + 7, fixed)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    xr_coregix.errors.NoStructureError: moving has no structure to register: ...
    """


class DataTypeError(CoregError):
    """A dtype that cannot be registered or written, or a nodata value it cannot hold.

    Examples
    --------
    >>> import xr_coregix
    >>> moving, fixed = xr_coregix.data.example_pair()
    >>> xr_coregix.register(moving, fixed, moving_nodata=-1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    xr_coregix.errors.DataTypeError: moving_nodata=-1.0 cannot occur in uint16 data: ...
    """


class RasterIOError(CoregError):
    """A raster could not be read, or an output could not be written where asked.

    Examples
    --------
    >>> from xr_coregix.io import open_raster
    >>> open_raster("/no/such.tif", "moving_image_path")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    xr_coregix.errors.RasterIOError: moving_image_path '/no/such.tif' does not exist or is not a file
    """


class RegistrationWarning(UserWarning):
    """A fit failed a reliability check and was returned anyway (``on_failure="warn"``).

    Examples
    --------
    >>> import warnings, xr_coregix
    >>> moving, fixed = xr_coregix.data.example_pair()
    >>> with warnings.catch_warnings(record=True):
    ...     fit = xr_coregix.register(moving, fixed, max_shift=1, on_failure="warn")
    >>> fit.diagnostics.reliable
    False
    """


def warn_caller(message: str, category: type[Warning] = RegistrationWarning) -> None:
    """Warn with ``message``, attributed to the first caller outside xr_coregix.

    A warning found deep in the package (a cube of one date, the pipeline behind
    ``align_image_pair``) points at the user's own line, not at a frame of the package; in a
    worker thread it points at the scheduler's frame that ran the task.
    """
    package = __name__.partition(".")[0]
    frame = sys._getframe(1)
    level = 2  # 1 is this function, 2 its caller
    while frame is not None and frame.f_globals.get("__name__", "").partition(".")[0] == package:
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)
