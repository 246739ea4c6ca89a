"""The edge proxy and the block reduction: numbers on small constructed images."""

import numpy as np
from affine import Affine
from odc.geo.geobox import GeoBox

from xr_coregix.core.grid import covering_roi
from xr_coregix.core.proxy import clip_strong_edges, edge_proxy, erode
from xr_coregix.core.pyramid import block_pyramid, block_reduce

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


def test_strong_edges_are_clipped_at_a_level_clouds_do_not_raise():
    """Ground edges (gamma-distributed) with 0.2 % or 0.5 % of far steeper cloud rims (what the
    guard or a mask leaves of them): the same clipping level to within 5 %, every rim clipped
    to it, and no more than about one edge in a hundred of the ground's. (Beyond 1 % of rims
    the level rises with them: the 99th percentile is its floor, for sparse edges.)"""
    rng = np.random.default_rng(1)
    ground = rng.gamma(2.0, 100.0, 200_000).astype(np.float32)
    levels = []
    for rims in (0.002, 0.005):
        proxy = ground.copy()
        proxy[: int(rims * proxy.size)] = rng.uniform(5_000, 20_000, int(rims * proxy.size))
        proxy = proxy.reshape(400, 500)
        levels.append(clip_strong_edges(proxy, np.ones(proxy.shape, bool)))
        assert proxy.max() == np.float32(levels[-1])
    assert abs(levels[1] / levels[0] - 1) < 0.05
    assert 0.002 < np.mean(ground > levels[0]) < 0.012


def test_sparse_edges_keep_their_contrast():
    """A checkerboard: nine pixels in ten have no edge. The level does not fall to the median
    (0, which would clip every edge away): it stays at or above the 99th percentile."""
    rows, cols = np.indices((200, 200))
    board = ((rows // 20 + cols // 20) % 2 * 1000.0).astype(np.float32)
    proxy, ok = edge_proxy(board, np.ones(board.shape, bool))
    before = proxy.max()
    level = clip_strong_edges(proxy, ok)
    assert level >= np.quantile(proxy[ok], 0.99) and proxy.max() == before


def test_clip_with_no_valid_pixel_changes_nothing():
    proxy = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert clip_strong_edges(proxy, np.zeros(proxy.shape, bool)) == np.inf
    assert proxy.max() == 11


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


def test_the_pyramid_in_one_pass_equals_reducing_each_level_from_full_resolution():
    """Sums and counts carried from level to level: the same means (to float32 rounding),
    the same validity and grids as a reduction of the full image by each factor, also on a
    ragged image with 30 % holes; a factor off the chain (6) is reduced from full resolution."""
    rng = np.random.default_rng(3)
    values = rng.normal(1000, 300, (203, 141)).astype(np.float32)
    valid = rng.random(values.shape) > 0.3
    grid = GeoBox(values.shape, Affine(15, 0, 500000, 0, -15, 4000000), "EPSG:32616")
    levels = block_pyramid(values, valid, grid, (8, 1, 4, 2, 6))
    assert sorted(levels) == [1, 2, 4, 6, 8]
    for factor, (mean, ok, box) in levels.items():
        want_mean, want_ok, want_box = block_reduce(values, valid, grid, factor)
        assert box == want_box and mean.shape == want_mean.shape
        assert np.array_equal(ok, want_ok)
        np.testing.assert_allclose(mean, want_mean, rtol=1e-6)
