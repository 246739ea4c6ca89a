"""The same code, unchanged, on a dask.distributed cluster."""

import numpy as np
import rioxarray
from synthetic import misregister, rigid

import xr_coregix
from xr_coregix import displacement_error


def test_register_apply_and_write_on_a_cluster(client, b4, fixed, tmp_path):
    grid = fixed.odc.geobox
    truth = rigid(1.3, -2.1, 0.5, grid)
    moving = misregister(b4, truth, grid, nodata=0).round().astype("uint16")
    moving = moving.rio.write_nodata(0)
    xr_coregix.write_geotiff(moving, tmp_path / "moving.tif")
    xr_coregix.write_geotiff(fixed, tmp_path / "fixed.tif")

    lazy_moving = rioxarray.open_rasterio(tmp_path / "moving.tif", chunks=128)
    lazy_fixed = rioxarray.open_rasterio(tmp_path / "fixed.tif", chunks=128)
    fit = lazy_moving.coreg.register(lazy_fixed, split_factor=2)
    assert displacement_error(fit, truth, grid)[0] < 0.05
    assert client.run(lambda: 1)  # the workers are alive and were used by compute
    aligned = lazy_moving.coreg.apply(grid="reference")
    out = xr_coregix.write_geotiff(aligned, tmp_path / "aligned.tif")

    with _local_scheduler():
        local_fit = xr_coregix.register(
            rioxarray.open_rasterio(tmp_path / "moving.tif", chunks=128),
            rioxarray.open_rasterio(tmp_path / "fixed.tif", chunks=128),
            split_factor=2,
        )
        expected = xr_coregix.apply(lazy_moving, local_fit, grid="reference").compute()
    assert (local_fit.rotation, local_fit.translation) == (fit.rotation, fit.translation)
    written = rioxarray.open_rasterio(out)
    assert written.rio.transform() == fixed.rio.transform()
    np.testing.assert_array_equal(written.values, expected.values)


def _local_scheduler():
    import dask

    return dask.config.set(scheduler="threads")


def test_a_lost_worker_is_retried_and_the_fit_is_right(client, b4, fixed, tmp_path):
    def _die_once(block, marker):
        """Kill the worker process the first time any block is computed (a local function:
        shipped to the workers by value, as they cannot import this test module)."""
        import os

        if not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(1)
        return block

    grid = fixed.odc.geobox
    truth = rigid(-0.7, 1.4, -0.3, grid)
    moving = misregister(b4, truth, grid).chunk(160)
    marker = str(tmp_path / "died")
    fragile = moving.copy(
        data=moving.data.map_blocks(_die_once, marker, dtype=moving.dtype, meta=np.array((), "f4"))
    )
    fit = xr_coregix.register(fragile, fixed, split_factor=2)
    assert (tmp_path / "died").exists()  # a worker did die
    with _local_scheduler():
        expected = xr_coregix.register(moving, fixed, split_factor=2)
    assert (fit.rotation, fit.translation) == (expected.rotation, expected.translation)
    assert displacement_error(fit, truth, grid)[0] < 0.05
