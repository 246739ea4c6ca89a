"""The block-wise warp matches odc-geo's reproject (GDAL's kernels either way) to 1 DN."""

import dask.array as dsa
import numpy as np
import pytest
import xarray as xr
from affine import Affine
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords, xr_reproject
from synthetic import rigid

from xr_coregix.xr.blockwarp import warp_block, warp_dask
from xr_coregix.xr.warp import corrected_geobox


def _odc(values, box, target, resampling, src_nodata, dst_nodata):
    da = xr.DataArray(values, dims=("band", "y", "x"), coords=xr_coords(box, dims=("y", "x")))
    da.attrs["nodata"] = src_nodata
    out = xr_reproject(da, target, resampling=resampling, dst_nodata=dst_nodata)
    return np.asarray(out.values)


def _source(b4, dtype, nodata):
    """Two bands of a real crop with a nodata border and a nodata hole."""
    values = np.stack([b4.values[0], b4.values[0][::-1]]).astype(dtype)
    values[:, :20] = nodata
    values[:, 150:170, 200:260] = nodata
    return values


@pytest.mark.parametrize(
    "dtype,nodata,resampling",
    [(np.uint16, 0, "bilinear"), (np.float32, np.nan, "bilinear"), (np.uint16, 0, "nearest"),
     (np.int16, -9999, "cubic")],
)  # fmt: skip
@pytest.mark.parametrize("target", ["source", "beyond"])
@pytest.mark.filterwarnings(
    "ignore::rasterio.errors.NotGeoreferencedWarning"
)  # odc-geo, the oracle
def test_matches_odc_geo_reproject(b4, dtype, nodata, resampling, target):
    grid = b4.odc.geobox
    box = corrected_geobox(grid, rigid(3.3, -2.6, 0.7, grid))
    # "beyond": a coarser-chunked grid reaching past the source, so whole blocks miss it
    dst = (
        grid
        if target == "source"
        else GeoBox((300, 420), grid.affine * Affine.translation(-60, 90), grid.crs)
    )
    values = _source(b4, dtype, nodata)
    expected = _odc(values, box, dst, resampling, nodata, nodata)
    lazy = warp_dask(
        dsa.from_array(values, chunks=(1, 70, 90)), box, dst, resampling, nodata, nodata
    )
    for got in (lazy.compute(), warp_block(values, box, dst, resampling, nodata, nodata)):
        assert got.dtype == values.dtype and got.shape == (2, *dst.shape)
        missing = np.isnan(got) if np.isnan(nodata) else got == nodata
        expected_missing = np.isnan(expected) if np.isnan(nodata) else expected == nodata
        assert np.array_equal(missing, expected_missing)  # the same nodata, pixel for pixel
        diff = np.abs(got[~missing].astype(float) - expected[~missing].astype(float))
        assert diff.max() <= (1 if dtype != np.float32 else 1e-3)
        assert (diff > 0).mean() < 1e-3
    assert lazy.numblocks[1:] == tuple(-(-n // c) for n, c in zip(dst.shape, (70, 90)))


def test_a_block_reads_only_the_source_blocks_it_needs():
    grid = GeoBox((400, 400), Affine(10, 0, 0, 0, -10, 4000), "EPSG:32616")
    src = dsa.ones((400, 400), chunks=100, dtype=np.uint16)
    out = warp_dask(src, corrected_geobox(grid, rigid(2.5, 1.5, 0.0, grid)), grid, "bilinear", 0, 0)
    graph = dict(out.__dask_graph__())
    deps = out.__dask_graph__().dependencies[out.name]
    assert deps == {src.name}
    corner = graph[(out.name, 0, 0)]
    read = {k for line in corner[1] for k in line}
    assert read == {(src.name, 0, 0), (src.name, 0, 1), (src.name, 1, 0), (src.name, 1, 1)}
