"""A Dataset with named bands, as odc-stac loads one: register on one variable, warp all.

Run: ``python examples/dataset_named_bands.py``.
"""

import numpy as np
import xarray as xr

from xr_coregix.data import example_pair

moving, fixed = example_pair()
nir = moving.isel(band=0, drop=True)
# a second variable on the same grid: a normalised difference-like index, float with NaN nodata
index = ((nir.astype("float32") - 9000) / 9000).where(nir != 0)
scene = xr.Dataset({"nir": nir, "index": index.rio.write_nodata(np.nan)})
scene["nir"].attrs["nodata"] = 0  # as odc-stac writes it

reference = xr.Dataset({"red": fixed.isel(band=0, drop=True)})
fit = scene.coreg.register(reference, moving_band="nir", fixed_band="red")
print(fit)

aligned = scene.coreg.apply(grid="reference")
for name, var in aligned.data_vars.items():
    print(f"{name}: {var.dtype}, nodata {var.rio.nodata}, on the reference grid:",
          var.odc.geobox == reference.odc.geobox)  # fmt: skip
