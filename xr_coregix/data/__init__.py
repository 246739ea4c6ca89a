"""The small bundled example pair (Landsat 8 OLI, USGS, public domain).

``example_fixed_B4.tif`` is a 320 x 320 crop of the red band at 30 m (EPSG:32616), the
reference. ``example_moving_B5.tif`` is the near-infrared band of the same scene on a grid 16
pixels to the south-east, resampled through a known rigid misregistration (3.4 px east,
2.15 px south, 0.4 degrees), with nodata 0 outside the scene and over a cut corner.
``scripts/make_data.py`` made both.

Examples
--------
>>> from xr_coregix import data
>>> moving, fixed = data.example_pair()
>>> fixed.rio.resolution()
(30.0, -30.0)

The fit of this pair is the synthetic transform composed with the small offset between the two
bands themselves (cloud parallax: about 0.12 px east and 0.33 px north of B5 against B4 on the
whole scene), so it matches the truth to a few tenths of a pixel, not exactly.
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import rioxarray
import xarray as xr

from ..core.transform import RigidTransform


def path(name: str) -> Path:
    """Path of a bundled file, e.g. ``path("example_fixed_B4.tif")``."""
    return Path(str(files(__name__).joinpath(name)))


def example_paths() -> tuple[Path, Path]:
    """Paths of the bundled ``(moving, fixed)`` GeoTIFFs.

    Examples
    --------
    >>> [p.name for p in example_paths()]
    ['example_moving_B5.tif', 'example_fixed_B4.tif']
    """
    return path("example_moving_B5.tif"), path("example_fixed_B4.tif")


def example_pair(**kwargs: object) -> tuple[xr.DataArray, xr.DataArray]:
    """The bundled ``(moving, fixed)`` pair, opened with :func:`rioxarray.open_rasterio`.

    Keyword arguments (``chunks=...``, ``masked=...``) go to ``open_rasterio``.

    Examples
    --------
    >>> moving, fixed = example_pair()
    >>> moving.shape, int(moving.rio.nodata), str(fixed.rio.crs)
    ((1, 320, 320), 0, 'EPSG:32616')
    """
    moving, fixed = example_paths()
    return rioxarray.open_rasterio(moving, **kwargs), rioxarray.open_rasterio(fixed, **kwargs)


def example_truth() -> RigidTransform:
    """The synthetic misregistration applied to the moving band of the example pair.

    Examples
    --------
    >>> round(example_truth().rotation_degrees, 3), example_truth().translation
    (0.4, (102.0, -64.5))
    """
    record = json.loads(path("example_truth.json").read_text())
    return RigidTransform.from_dict(record["truth"])
