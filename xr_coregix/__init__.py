"""xr_coregix: pairwise coregistration of georeferenced rasters for xarray.

Importing the package registers the ``.coreg`` accessor on :class:`xarray.DataArray` and
:class:`xarray.Dataset`::

    import xr_coregix
    fit = moving.coreg.register(fixed)
    aligned = moving.coreg.apply(grid="reference")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import odc.geo.xr  # noqa: F401  (the .odc accessor: GeoBoxes are how grids are told here)

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
from .xr.accessor import CoregAccessor, register_accessors
from .xr.series import TransformSeries

register_accessors()

__version__ = "0.1.0"

# what needs SimpleITK, dask or rioxarray is imported when first used: ``import xr_coregix``
# costs xarray and odc-geo (whose .odc accessor it registers too); rioxarray's .rio comes with
# the first function that reads or writes a raster
_LAZY = {
    "AlignmentResult": "pipeline",
    "LazyTransformSeries": "xr.cube",
    "align_image_pair": "pipeline",
    "apply": "xr.warp",
    "landsat_qa_mask": "xr.qa",
    "open_raster": "io",
    "qa_mask": "xr.qa",
    "register": "xr.register",
    "scl_mask": "xr.qa",
    "trim_edge_invalid": "xr.trim",
    "write_geotiff": "io",
}
_SUBMODULES = ("data", "plot")

if TYPE_CHECKING:
    from . import data
    from . import plot as plot
    from .io import open_raster, write_geotiff
    from .pipeline import AlignmentResult, align_image_pair
    from .xr.cube import LazyTransformSeries
    from .xr.qa import landsat_qa_mask, qa_mask, scl_mask
    from .xr.register import register
    from .xr.trim import trim_edge_invalid
    from .xr.warp import apply


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, *_SUBMODULES})


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
