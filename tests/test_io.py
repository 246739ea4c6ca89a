"""write_geotiff: tiled, compressed, georeferenced, atomic."""

import dask.array as dsa
import numpy as np
import pytest
import rasterio
import xarray as xr
from affine import Affine
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords

import xr_coregix
from xr_coregix import RasterIOError, write_geotiff

GRID = GeoBox((600, 700), Affine(10, 0, 1000, 0, -10, 9000), "EPSG:32616")


def raster(data, nodata=0):
    da = xr.DataArray(data, dims=("band", "y", "x"), coords=xr_coords(GRID, dims=("y", "x")))
    return da.assign_coords(band=["red", "nir"]).rio.write_nodata(nodata)


def test_written_file_is_tiled_compressed_and_declares_nodata(tmp_path):
    data = dsa.random.default_rng(1).integers(0, 5000, (2, 600, 700), chunks=(1, 256, 256))
    da = raster(data.astype(np.uint16))
    out = write_geotiff(da, tmp_path / "out.tif", blocksize=256)
    with rasterio.open(out) as ds:
        assert ds.profile["tiled"] and ds.profile["blockxsize"] == 256
        assert ds.compression.name == "deflate"
        assert ds.nodata == 0 and ds.dtypes == ("uint16", "uint16")
        assert ds.transform == GRID.affine and ds.crs.to_epsg() == 32616
        assert ds.descriptions == ("red", "nir")
        np.testing.assert_array_equal(ds.read(), da.values)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif"]


def test_cog(tmp_path):
    da = raster(np.ones((2, 600, 700), np.float32), nodata=np.nan)
    out = write_geotiff(da, tmp_path / "out.tif", cog=True, blocksize=256)
    with rasterio.open(out) as ds:
        assert ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert ds.overviews(1)  # 700 px > 256: at least one overview level
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif"]


def exploding_raster():
    """A lazy raster whose block (1, 1) fails, as a full disk would, midway through a write."""

    def explode(block, block_info=None):
        if block_info[0]["chunk-location"][1:] == (1, 1):
            raise RuntimeError("disk full")
        return block

    data = dsa.zeros((2, 600, 700), chunks=(1, 256, 256), dtype=np.uint16)
    return raster(data.map_blocks(explode, dtype=np.uint16, meta=np.array((), np.uint16)))


@pytest.mark.parametrize("cog", [False, True])
def test_failure_inside_a_block_leaves_nothing(tmp_path, cog):
    with pytest.raises(RuntimeError, match="disk full"):
        write_geotiff(exploding_raster(), tmp_path / "out.tif", cog=cog)
    assert list(tmp_path.iterdir()) == []


def test_failure_keeps_an_existing_file(tmp_path):
    target = tmp_path / "out.tif"
    target.write_bytes(b"previous")
    with pytest.raises(RuntimeError, match="disk full"):
        write_geotiff(exploding_raster(), target)
    assert target.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif"]


def test_missing_output_folder(tmp_path):
    with pytest.raises(RasterIOError, match="does not exist: create it first"):
        write_geotiff(raster(np.ones((2, 600, 700), np.uint8)), tmp_path / "no" / "out.tif")


def test_unreadable_input(tmp_path):
    broken = tmp_path / "broken.tif"
    broken.write_bytes(b"II*\x00 this is not a tiff")
    with pytest.raises(RasterIOError, match="is not a readable raster"):
        xr_coregix.open_raster(broken, "moving")
