"""Capture range and the significance of a match: far offsets found, no match and more than one
match refused."""

import numpy as np
import pytest
import rioxarray
from synthetic import DATA, misregister, rigid

import xr_coregix
from xr_coregix import RegistrationError, RigidTransform, displacement_error
from xr_coregix.cli import align_main


@pytest.fixture(scope="module")
def scene():
    return rioxarray.open_rasterio(DATA / "scene_B4.tif")


@pytest.fixture(scope="module")
def crop(scene):
    """320 x 320 pixels in the middle of the scene: the reference."""
    return scene.isel(y=slice(140, 460), x=slice(150, 470))


@pytest.mark.parametrize("dx,dy", [(40, 12), (-75, 30), (20, -78)])
def test_offsets_up_to_a_quarter_of_the_overlap_are_found(scene, crop, dx, dy):
    """(Beyond the default max_shift of 50 px: the check asks for them to be expected.)"""
    grid = crop.odc.geobox
    truth = rigid(dx + 0.37, dy - 0.21, 0.4, grid)
    fit = xr_coregix.register(misregister(scene, truth, grid), crop, max_shift=100)
    assert displacement_error(fit, truth, grid)[0] < 0.05
    assert fit.diagnostics.search_significance > 20


def test_a_georeference_moved_by_kilometres(scene):
    """The same raster with its geotransform moved 2000 m east and 1000 m north."""
    moved = scene.assign_coords(x=scene.x + 2000.0, y=scene.y + 1000.0)
    fit = xr_coregix.register(moved, scene, max_shift=100)
    grid = scene.odc.geobox
    assert displacement_error(fit, RigidTransform(0.0, (-2000.0, -1000.0)), grid)[0] < 0.02


def test_beyond_the_capture_range_is_refused(scene, crop):
    grid = crop.odc.geobox
    moving = misregister(scene, rigid(150, 0, 0.0, grid), grid)
    with pytest.raises(RegistrationError, match=r"no significant match .* capture range of 7\d px"):
        xr_coregix.register(moving, crop, max_shift=200)


@pytest.mark.parametrize(
    "rows,cols", [(slice(0, 320), slice(0, 320)), (slice(283, 603), slice(307, 627))]
)
def test_unrelated_ground_is_refused(scene, crop, rows, cols):
    """Another part of the scene under the reference's georeference."""
    other = scene.isel(y=rows, x=cols).assign_coords(x=crop.x, y=crop.y)
    with pytest.raises(RegistrationError, match="no significant match"):
        xr_coregix.register(other, crop)
    fit = xr_coregix.register(other, crop, on_failure="warn")
    assert not fit.diagnostics.reliable and fit.diagnostics.search_significance < 7


def test_periodic_content_is_refused(crop):
    """A checkerboard of 40 px period shifted 30 px: it matches at every 40 px."""
    rows, cols = np.indices((320, 320))
    board = (((rows // 20) + (cols // 20)) % 2 * 1000.0 + 5000).astype(np.float32)
    fixed = crop.squeeze(drop=True).copy(data=board)
    moving = fixed.copy(data=np.roll(board, 30, axis=1))
    with pytest.raises(RegistrationError, match="more than one offset .* periodic"):
        xr_coregix.register(moving, fixed)


def test_the_cli_refuses_unrelated_ground_and_writes_nothing(scene, crop, tmp_path, capsys):
    other = scene.isel(y=slice(0, 320), x=slice(0, 320)).assign_coords(x=crop.x, y=crop.y)
    moving, fixed, out = tmp_path / "m.tif", tmp_path / "f.tif", tmp_path / "out.tif"
    other.rio.to_raster(moving)
    crop.rio.to_raster(fixed)
    argv = ["--moving-image", str(moving), "--fixed-image", str(fixed), "--output-image", str(out)]
    assert align_main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no significant match" in err[0]
    assert not out.exists()


@pytest.mark.parametrize("split_factor", [2, 3])
def test_chunked_fits_reach_as_far(split_factor):
    """Chunked, the whole overlap's search moves every chunk's moving window to its ground:
    120 px on an 800 px overlap (a chunk alone reaches a quarter of itself: 50-100 px)."""
    pan = rioxarray.open_rasterio(DATA / "scene_B8.tif")
    crop = pan.isel(y=slice(200, 1000), x=slice(200, 1000))
    grid = crop.odc.geobox
    truth = rigid(120.3, -48.0, 0.3, grid)
    moving = misregister(pan, truth, grid)
    fit = xr_coregix.register(
        moving.chunk(256), crop.chunk(256), split_factor=split_factor, max_shift=300
    )
    assert displacement_error(fit, truth, grid)[0] < 0.02
    assert sum(c.status == "ok" for c in fit.diagnostics.chunks) >= 3 * 2**split_factor // 4


def test_chunks_near_the_capture_range():
    """170 px on an 800 px overlap, split 3 (chunk windows of about 230 px): each chunk's area
    valid in both, its metric before and its search are taken where the whole overlap's search
    put its ground (else six of eight chunks found nothing to solve)."""
    pan = rioxarray.open_rasterio(DATA / "scene_B8.tif")
    crop = pan.isel(y=slice(200, 1000), x=slice(200, 1000))
    grid = crop.odc.geobox
    truth = rigid(170.3, -20.0, 0.2, grid)
    fit = xr_coregix.register(misregister(pan, truth, grid), crop, split_factor=3, max_shift=300)
    assert displacement_error(fit, truth, grid)[0] < 0.02
    assert sum(c.status == "ok" for c in fit.diagnostics.chunks) >= 6


def test_a_single_solve_reads_each_pixel_once(tmp_path, crop, scene):
    """The cloud guard's sample and the solve share one read of a dask-backed pair."""
    from xr_coregix import io

    grid = crop.odc.geobox
    misregister(scene, rigid(2.3, 1.7, 0.6, grid), grid).rio.to_raster(tmp_path / "m.tif")
    crop.rio.to_raster(tmp_path / "f.tif")
    read = []
    original = io._NamedReads.__getitem__

    def counting(self, key):
        out = original(self, key)
        read.append(np.asarray(out).size)
        return out

    io._NamedReads.__getitem__ = counting
    try:
        moving = io.open_raster(tmp_path / "m.tif", "m", chunks=128)
        fixed = io.open_raster(tmp_path / "f.tif", "f", chunks=128)
        xr_coregix.register(moving, fixed, split_factor=0)
    finally:
        io._NamedReads.__getitem__ = original
    assert sum(read) == moving.size + fixed.size
