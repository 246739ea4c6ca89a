"""trim_edge_invalid: the invalid exterior widened by a depth, interior holes kept."""

import dask.array as dsa
import numpy as np
import pytest
import xarray as xr
from affine import Affine
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords

import xr_coregix

GRID = GeoBox((60, 80), Affine(10, 0, 0, 0, -10, 600), "EPSG:32616")


def collar_raster(chunks=None):
    """Valid data framed by a 5-pixel nodata collar, with an interior nodata hole."""
    values = np.full((2, 60, 80), 500, dtype=np.uint16)
    values[:, :5, :] = 0
    values[:, -5:, :] = 0
    values[:, :, :5] = 0
    values[:, :, -5:] = 0
    values[:, 30, 40] = 0  # an interior hole: not connected to the exterior
    values[0, 5, 20] = 3  # an artefact at the collar's edge, below 10
    da = xr.DataArray(values, dims=("band", "y", "x"), coords=xr_coords(GRID, dims=("y", "x")))
    da = da.rio.write_nodata(0)
    return da if chunks is None else da.chunk(chunks)


def test_exterior_widened_by_depth_exact_count():
    out = xr_coregix.trim_edge_invalid(collar_raster(), depth=2)
    # valid core 50 x 70 shrinks by 2 on each side to 46 x 66; the hole stays one pixel
    valid = out.values[0] != 0
    assert int(valid.sum()) == 46 * 66 - 1
    assert out.values[0, 30, 40] == 0 and out.values[0, 30, 41] == 500
    assert (out.values[1] != 0).sum() == valid.sum()  # every band trimmed alike
    assert out.dtype == np.uint16 and out.rio.nodata == 0


def test_threshold_artefacts_count_as_invalid():
    plain = xr_coregix.trim_edge_invalid(collar_raster(), depth=2)
    thresholded = xr_coregix.trim_edge_invalid(collar_raster(), depth=2, invalid_below=10)
    # the artefact at (5, 20) touches the collar: its 5x5 neighbourhood (3 rows inside) goes
    assert int((plain.values[0] != 0).sum() - (thresholded.values[0] != 0).sum()) == 5


def test_lazy_result_equals_eager_result():
    eager = xr_coregix.trim_edge_invalid(collar_raster(), depth=3)
    lazy = xr_coregix.trim_edge_invalid(collar_raster(chunks={"y": 16, "x": 16}), depth=3)
    assert isinstance(lazy.data, dsa.Array)
    np.testing.assert_array_equal(lazy.values, eager.values)


def _oracle(invalid):
    """Exterior-connected invalid pixels by scipy's 8-connected labelling: an independent
    reference for the chunked union-find."""
    from scipy import ndimage

    labels, _ = ndimage.label(invalid, structure=np.ones((3, 3)))
    border = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    return np.isin(labels, border[border > 0])


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("chunks,depth", [((7, 9), 1), ((16, 16), 3), ((1, 40), 1), ((2, 5), 3)])
def test_chunked_exterior_matches_a_whole_raster_labelling(seed, chunks, depth):
    rng = np.random.default_rng(seed)
    invalid = rng.random((48, 60)) < 0.45  # near the percolation threshold: long, winding paths
    values = np.where(invalid, 0, 500).astype(np.uint16)[None]
    da = xr.DataArray(
        values, dims=("band", "y", "x"), coords=xr_coords(GRID[:48, :60], dims=("y", "x"))
    )
    da = da.rio.write_nodata(0)
    expected = _oracle(invalid)
    eager = xr_coregix.trim_edge_invalid(da, depth=depth)
    lazy = xr_coregix.trim_edge_invalid(da.chunk({"y": chunks[0], "x": chunks[1]}), depth=depth)
    from xr_coregix.core.trim import exterior_invalid, widen

    np.testing.assert_array_equal(exterior_invalid(invalid), expected)
    trimmed = widen(expected, depth)
    np.testing.assert_array_equal(eager.values[0] == 0, trimmed | invalid)
    np.testing.assert_array_equal(lazy.values, eager.values)


def test_components_meeting_only_at_a_chunk_corner_are_joined():
    invalid = np.zeros((8, 8), bool)
    for k in range(6):  # a diagonal run from the border; (3, 3) and (4, 4) are chunk corners
        invalid[k, k] = True
    values = np.where(invalid, 0, 500).astype(np.uint16)
    da = xr.DataArray(values, dims=("y", "x"), coords=xr_coords(GRID[:8, :8], dims=("y", "x")))
    lazy = xr_coregix.trim_edge_invalid(da.rio.write_nodata(0).chunk(4), depth=1)
    # (4, 4) and (5, 5), in chunk (1, 1), reach the border only through the corner: exterior,
    # so their 1-pixel widening takes (6, 6)
    assert lazy.values[6, 6] == 0 and lazy.values[7, 7] == 500


def test_a_first_pass_copy_gives_the_same_result(tmp_path):
    path = tmp_path / "collar.tif"
    xr_coregix.write_geotiff(collar_raster(), path)
    da = xr_coregix.open_raster(path, "x", chunks=16)
    again = xr_coregix.open_raster(path, "x", chunks=16, name_prefix="again-")
    assert again.data.name != da.data.name  # its own reads
    alone = xr_coregix.trim_edge_invalid(da, depth=2, invalid_below=10)
    paired = xr_coregix.trim_edge_invalid(da, depth=2, invalid_below=10, first_pass=again)
    np.testing.assert_array_equal(paired.values, alone.values)
    names = {k[0] for k in paired.data.__dask_graph__() if isinstance(k, tuple)}
    assert again.data.name in names and da.data.name in names  # both reads in the graph
    with pytest.raises(xr_coregix.CoregError, match="first_pass has dims"):
        xr_coregix.trim_edge_invalid(da, first_pass=again[:, :10])
