"""The xarray layer: georeference, bands and masks of DataArrays/Datasets, register and apply."""
