"""The vocabulary of the options: their allowed values and defaults, shared by the library and
the command lines.

Nothing heavy is imported here, so that ``align-image-pair --help`` starts in a fraction of a
second; each tuple is the ``typing.Literal`` next to it, spelled out once.
"""

from __future__ import annotations

from typing import Literal, get_args

Grid = Literal["source", "reference", "native"]
GRIDS: tuple[str, ...] = get_args(Grid)

Resampling = Literal[
    "nearest", "bilinear", "cubic", "cubic_spline", "lanczos", "average", "mode", "max", "min",
    "med", "q1", "q3", "sum", "rms",
]  # fmt: skip
# the names GDAL's warp takes (rasterio.warp.SUPPORTED_RESAMPLING, as odc.geo calls it)
RESAMPLINGS: tuple[str, ...] = get_args(Resampling)

Stage = Literal["translation", "rigid"]
# the registration stages, in the order they run
STAGES: tuple[str, ...] = get_args(Stage)

OnFailure = Literal["raise", "warn"]
ON_FAILURES: tuple[str, ...] = get_args(OnFailure)

CloudSide = Literal["auto", "bright", "cold"]
# where the cloud guard looks for clouds (True is "auto", False turns it off)
CLOUD_SIDES: tuple[str, ...] = get_args(CloudSide)

MaskKind = Literal["nonzero", "landsat-qa-pixel", "landsat-bqa", "landsat-bqa-pre", "scl"]
# how the values of a mask raster become "exclude"
MASK_KINDS: tuple[str, ...] = get_args(MaskKind)

MASK_DILATION = 3  # reference pixels: covers the soft edge of a cloud and the proxy's stencil
CHUNK = 1024  # pixels a side of the dask blocks files are read and written in
AGAIN = "xr-coregix-again-"  # dask key prefix of a second, independent read of a file
