"""Make the bundled example pair and the test crops from the Landsat 8 subset in shared/data.

Run from the repository root: ``python scripts/make_data.py ../shared/data/landsat8``. The
outputs are committed; this script records how they were made (it needs scipy).

- ``xr_coregix/data/example_fixed_B4.tif``: red band, 320 x 320 pixels at 30 m (reference).
- ``xr_coregix/data/example_moving_B5.tif``: near infrared on a grid offset by 16 pixels, its
  content resampled (cubic spline) through a known rigid misregistration, nodata 0 outside the
  scene and over a cut corner (as at a scene edge). The truth is in ``example_truth.json``.
- ``tests/data/crop_B4.tif``, ``crop_B5.tif`` (384 x 384 at 30 m) and ``crop_B8.tif``
  (768 x 768 at 15 m) of the same footprint, untouched, for tests that make their own
  misregistrations.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import rioxarray
from affine import Affine
from odc.geo.geobox import GeoBox
from scipy import ndimage

from xr_coregix.core.transform import RigidTransform

ROOT = Path(__file__).resolve().parents[1]
PROFILE = {
    "compress": "deflate",
    "predictor": 2,
    "tiled": True,
    "blockxsize": 128,
    "blockysize": 128,
}


def sample(values: np.ndarray, gbox: GeoBox, truth: RigidTransform, target: GeoBox) -> np.ndarray:
    """Values at ``truth(p)`` for every pixel centre p of ``target`` (NaN outside ``gbox``)."""
    rows, cols = np.meshgrid(
        np.arange(target.shape[0]) + 0.5, np.arange(target.shape[1]) + 0.5, indexing="ij"
    )
    a = target.affine
    x, y = truth(a.a * cols + a.b * rows + a.c, a.d * cols + a.e * rows + a.f)
    inv = ~gbox.affine
    src_c = inv.a * x + inv.b * y + inv.c - 0.5
    src_r = inv.d * x + inv.e * y + inv.f - 0.5
    out = ndimage.map_coordinates(
        values.astype(np.float64), [src_r, src_c], order=3, mode="constant", cval=np.nan
    )
    inside = (
        (src_r >= 0)
        & (src_c >= 0)
        & (src_r <= values.shape[0] - 1)
        & (src_c <= values.shape[1] - 1)
    )
    return np.where(inside, out, np.nan)


def main(src: Path) -> None:
    scene = {b: rioxarray.open_rasterio(src / f"l8_{b}.tif") for b in ("B4", "B5", "B8")}
    b4 = scene["B4"]
    gbox = b4.odc.geobox
    # the test crops: 384 x 384 at 30 m, and the same footprint at 15 m
    rows, cols = slice(219, 603), slice(120, 504)
    for band in ("B4", "B5"):
        scene[band].isel(y=rows, x=cols).rio.to_raster(
            ROOT / f"tests/data/crop_{band}.tif", **PROFILE
        )
    b8 = scene["B8"]
    b8_rows = slice(2 * rows.start + 1, 2 * rows.stop + 1)
    b8_cols = slice(2 * cols.start + 1, 2 * cols.stop + 1)
    b8.isel(y=b8_rows, x=b8_cols).rio.to_raster(ROOT / "tests/data/crop_B8.tif", **PROFILE)

    # the example pair
    fixed_box = gbox[251:571, 150:470]
    moving_box = GeoBox(
        fixed_box.shape, Affine.translation(16 * 30, -16 * 30) @ fixed_box.affine, gbox.crs
    )
    center = fixed_box.affine @ (160, 160)
    truth = RigidTransform(math.radians(0.4), (3.4 * 30, -2.15 * 30), center, gbox.crs)
    b4.isel(y=slice(251, 571), x=slice(150, 470)).rio.to_raster(
        ROOT / "xr_coregix/data/example_fixed_B4.tif", **PROFILE
    )
    values = sample(scene["B5"].values[0], gbox, truth, moving_box)
    rr, cc = np.mgrid[: moving_box.shape[0], : moving_box.shape[1]]
    values[rr + cc > 560] = np.nan  # a cut corner, as at the edge of a scene
    moving = np.where(np.isfinite(values), np.clip(np.round(values), 1, 65535), 0)
    out = b4.isel(y=slice(251, 571), x=slice(150, 470)).copy(data=moving[None].astype(np.uint16))
    out = out.assign_coords(x=moving_box.coords["x"].values, y=moving_box.coords["y"].values)
    out = out.rio.write_transform(moving_box.affine).rio.write_nodata(0)
    out.rio.to_raster(ROOT / "xr_coregix/data/example_moving_B5.tif", **PROFILE)
    record = {
        "description": "example_moving_B5.tif = B5 sampled at truth(p) for each pixel centre p "
        "of its grid: truth maps the moving georeference to the reference frame",
        "truth": truth.to_dict(),
    }
    (ROOT / "xr_coregix/data/example_truth.json").write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
