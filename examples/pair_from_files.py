"""A pair of GeoTIFFs: open lazily, register, look, apply, write.

Run: ``python examples/pair_from_files.py [OUTPUT_DIR]`` (default: the current folder).
"""

import sys
from pathlib import Path

import xr_coregix
import xr_coregix.plot
from xr_coregix.data import example_paths

out = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
moving_path, fixed_path = example_paths()
moving = xr_coregix.open_raster(moving_path, "moving", chunks=128)  # dask-backed
fixed = xr_coregix.open_raster(fixed_path, "fixed", chunks=128)

fit = moving.coreg.register(fixed, split_factor=2)  # four chunks, one robust fit
print(fit)
for chunk in fit.diagnostics.chunks:
    print(f"  chunk {chunk.index}: {chunk.status} {chunk.reason}")

xr_coregix.plot.compare(moving, fixed, fit).savefig(out / "compare.png", dpi=80)
xr_coregix.plot.anchors(fit).figure.savefig(out / "anchors.png", dpi=80)
aligned = moving.coreg.apply(grid="source")  # lazy until written
xr_coregix.write_geotiff(aligned, out / "aligned.tif")
print(f"wrote {out / 'aligned.tif'}, {out / 'compare.png'} and {out / 'anchors.png'}")
