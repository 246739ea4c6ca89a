"""xr_coregix: pairwise coregistration of georeferenced rasters for xarray.

Importing the package registers the ``.coreg`` accessor on :class:`xarray.DataArray` and
:class:`xarray.Dataset`::

    import xr_coregix
    fit = moving.coreg.register(fixed)
    aligned = moving.coreg.apply(grid="reference")
"""

from __future__ import annotations

from . import data
from .core.transform import (
    ChunkResult,
    Diagnostics,
    RigidTransform,
    StageResult,
    displacement_error,
)
from .errors import (
    BandSelectionError,
    CoregError,
    CRSMismatchError,
    DataTypeError,
    GridError,
    InsufficientValidDataError,
    MissingCRSError,
    NoOverlapError,
    NoStructureError,
    RasterIOError,
    RegistrationError,
    RegistrationWarning,
)
from .io import open_raster, write_geotiff
from .pipeline import AlignmentResult, align_image_pair
from .xr.accessor import CoregAccessor, register_accessors
from .xr.cube import LazyTransformSeries
from .xr.qa import landsat_qa_mask, qa_mask, scl_mask
from .xr.register import register
from .xr.series import TransformSeries
from .xr.trim import trim_edge_invalid
from .xr.warp import apply

register_accessors()

__version__ = "0.1.0"

__all__ = [
    "AlignmentResult",
    "BandSelectionError",
    "CRSMismatchError",
    "ChunkResult",
    "CoregAccessor",
    "CoregError",
    "DataTypeError",
    "Diagnostics",
    "GridError",
    "InsufficientValidDataError",
    "LazyTransformSeries",
    "MissingCRSError",
    "NoOverlapError",
    "NoStructureError",
    "RasterIOError",
    "RegistrationError",
    "RegistrationWarning",
    "RigidTransform",
    "StageResult",
    "TransformSeries",
    "align_image_pair",
    "apply",
    "data",
    "displacement_error",
    "landsat_qa_mask",
    "open_raster",
    "qa_mask",
    "register",
    "scl_mask",
    "trim_edge_invalid",
    "write_geotiff",
]
