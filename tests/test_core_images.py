"""The edge proxy and the block reduction: numbers on small constructed images."""

import numpy as np
from affine import Affine
from odc.geo.geobox import GeoBox

from xr_coregix.core.grid import covering_roi
from xr_coregix.core.proxy import edge_proxy, erode
from xr_coregix.core.pyramid import block_reduce

GRID = GeoBox((6, 8), Affine(10, 0, 1000, 0, -10, 2000), "EPSG:32616")


def test_edge_proxy_of_a_ramp_is_its_slope():
    ramp = np.add.outer(np.zeros(6), 3.0 * np.arange(8))  # +3 per column
    proxy, ok = edge_proxy(ramp, np.ones(ramp.shape, bool))
    assert ok.sum() == 4 * 6  # the array border has no full neighbourhood
    np.testing.assert_allclose(proxy[ok], 3.0)


def test_edge_proxy_ignores_invalid_pixels():
    img = np.ones((6, 8))
    valid = np.ones((6, 8), bool)
    img[2, 3] = 1e6  # a nodata value that must not make an edge
    valid[2, 3] = False
    proxy, ok = edge_proxy(img, valid)
    assert not ok[1:4, 2:5].any()  # the 3x3 around the invalid pixel is invalid
    assert np.all(proxy[ok] == 0)
    assert np.all(proxy[~ok] == 0)


def test_erode_counts():
    valid = np.ones((5, 5), bool)
    assert erode(valid).sum() == 9
    valid[2, 2] = False
    assert erode(valid).sum() == 0


def test_block_reduce_means_valid_pixels_and_keeps_georeference():
    values = np.arange(48, dtype=float).reshape(6, 8)
    valid = np.ones((6, 8), bool)
    valid[0, 0] = False
    out, ok, box = block_reduce(values, valid, GRID, 2)
    assert out.shape == (3, 4)
    assert out[0, 0] == (1 + 8 + 9) / 3  # the invalid pixel is left out of the mean
    assert out[2, 3] == (38 + 39 + 46 + 47) / 4
    assert ok.all()
    # the reduced pixel centre is the block centre
    assert box.affine @ (0.5, 0.5) == GRID.affine @ (1.0, 1.0)
    assert box.resolution.x == 20


def test_block_reduce_drops_blocks_mostly_invalid():
    valid = np.zeros((6, 8), bool)
    valid[0, 0] = True
    _, ok, _ = block_reduce(np.ones((6, 8)), valid, GRID, 2)
    assert ok.sum() == 0


def test_covering_roi_between_grids_of_different_pixel_size():
    fine = GeoBox((40, 40), Affine(5, 0, 1012.5, 0, -5, 1987.5), "EPSG:32616")
    rows, cols = covering_roi(GRID, fine)
    # fine spans x 1012.5..1212.5 and y 1787.5..1987.5: GRID columns 1..8, rows 1..6
    assert (rows, cols) == (slice(1, 6), slice(1, 8))
    far = GeoBox((4, 4), Affine(10, 0, 5000, 0, -10, 2000), "EPSG:32616")
    rows, cols = covering_roi(GRID, far)
    assert cols.stop - cols.start == 0
