"""Register every date of a datacube against one reference, offline, from the bundled data.

A (time, y, x) cube like ``odc.stac.load`` returns is built from the bundled near-infrared band:
each date carries its own known misregistration (made with xr_coregix.apply from a known
transform). Registering the cube against the red reference returns one fit per date; applying
the series warps every date with its own fit, lazily.

Run: ``python examples/time_cube.py``.
"""

import math

import pandas as pd
import xarray as xr

import xr_coregix
from xr_coregix.data import example_pair

moving, fixed = example_pair()
nir = moving.isel(band=0, drop=True).astype("float32").where(moving.isel(band=0) != 0)
center = fixed.odc.geobox.affine @ (160, 160)
drifts = [(0.0, 0.0, 0.0), (45.0, -20.0, 0.2), (-30.0, 60.0, -0.3)]  # metres, metres, degrees
dates = pd.to_datetime(["2024-06-01", "2024-07-01", "2024-08-01"])
slices = [
    xr_coregix.apply(nir, xr_coregix.RigidTransform(math.radians(d), (dx, dy), center, nir.rio.crs))
    for dx, dy, d in drifts
]
cube = xr.concat(slices, dim="time").assign_coords(time=dates).chunk({"time": 1})

series = cube.coreg.register(fixed)
print(series)
print(series.to_dataset()[["shift_x_px", "shift_y_px", "rotation_deg"]].to_dataframe().round(3))

aligned = cube.coreg.apply(grid="reference")  # lazy: one fit per date
print(aligned.sizes, "dask-backed:", aligned.chunks is not None)
