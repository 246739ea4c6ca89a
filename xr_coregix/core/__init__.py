"""The numerical core: arrays and grids in, arrays and transforms out; no files, no xarray."""
