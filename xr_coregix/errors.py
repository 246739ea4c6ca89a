"""Exceptions raised by xr_coregix.

Every error is a subclass of :class:`CoregError`, itself a :class:`ValueError`, and its message
names the argument at fault and what to do about it.
"""

from __future__ import annotations


class CoregError(ValueError):
    """Base class of the errors xr_coregix raises for bad input."""


class MissingCRSError(CoregError):
    """An input raster carries no coordinate reference system."""


class CRSMismatchError(CoregError):
    """The moving and the fixed raster are in different coordinate reference systems."""


class NoOverlapError(CoregError):
    """The rasters do not overlap, or overlap too little to solve."""


class InsufficientValidDataError(CoregError):
    """Too few pixels are valid in both rasters for a well constrained solve."""


class BandSelectionError(CoregError):
    """A band index, label or variable name does not exist, or selects something not 2-D."""


class GridError(CoregError):
    """An input's spatial dims or georeference cannot be used (missing dims, sheared grid...)."""


class RegistrationError(CoregError):
    """A solve ran but its result cannot be trusted (too few good chunks, divergence)."""


class NoStructureError(CoregError):
    """A registration band has no structure to register (constant over its valid pixels)."""


class DataTypeError(CoregError):
    """A dtype that cannot be registered or written, or a nodata value it cannot hold."""


class RegistrationWarning(UserWarning):
    """A fit failed a reliability check and was returned anyway (``on_failure="warn"``)."""
