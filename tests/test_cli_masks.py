"""Cloud and quality masks on the command line and in ``align_image_pair``, on the shipped real
Landsat 8 scene (627 x 603 at 30 m, popcorn cumulus over much of it) with its pre-collection BQA.

The moving band is B3 (green) against B4 (red): the bands are co-registered on the ground, so a
fit that clouds do not mislead is the identity to a few hundredths of a pixel (0.01-0.05 px
measured with the BQA mask or the cloud guard; 0.19 px with neither). B5 (near infrared) against
B4 comes out 0.17-0.20 px off in y with the BQA mask, and up to 0.16 px on cloud-free windows of
the scene: within OLI's band-to-band registration, but not within the 0.15 px checked here.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import rioxarray
import xarray as xr
from scipy import ndimage

import xr_coregix
from xr_coregix.cli import align_main
from xr_coregix.core.qa import landsat_qa_clouds
from xr_coregix.masks_io import open_mask

DATA = Path(__file__).parent / "data"
MOVING, FIXED, BQA = (str(DATA / f"scene_{b}.tif") for b in ("B3", "B4", "BQA"))
TOLERANCE = 0.15  # reference pixels from identity, at the centre


@pytest.fixture(scope="module")
def grid():
    return rioxarray.open_rasterio(FIXED).odc.geobox


@pytest.fixture(scope="module")
def bqa_cloud():
    """The BQA's clouds and cirrus of medium confidence or more (30 m, the B4 grid)."""
    return landsat_qa_clouds(rioxarray.open_rasterio(BQA).values[0], "pre-collection")


def run(argv):
    """``align_main``'s exit status, whether it returns it or argparse exits with it."""
    try:
        return align_main([str(a) for a in argv])
    except SystemExit as done:
        return done.code


def base_args(out):
    return ["--moving-image", MOVING, "--fixed-image", FIXED, "--output-image", out,
            "--no-progress"]  # fmt: skip


def assert_near_identity(fit, grid):
    shift = fit.shift_in_pixels(grid)
    assert np.hypot(*shift) < TOLERANCE, shift
    assert abs(fit.rotation_degrees) < 0.05


@pytest.fixture(scope="module")
def separate(tmp_path_factory):
    """The CLI with the BQA as its own file: the fit, as printed and as written."""
    folder = tmp_path_factory.mktemp("separate")
    out, fit_json = folder / "out.tif", folder / "fit.json"
    argv = [*base_args(out), "--fixed-mask", BQA, "--fixed-mask-kind", "landsat-bqa-pre",
            "--transform-out", fit_json]  # fmt: skip
    return run(argv), out, fit_json


def test_a_align_image_pair_takes_the_bqa_mask(tmp_path, grid, bqa_cloud):
    _, masked = xr_coregix.align_image_pair(
        MOVING, FIXED, tmp_path / "masked.tif", fixed_mask=BQA, fixed_mask_kind="landsat-bqa-pre",
        mask_dilation=0, cloud_guard=False,
    )  # fmt: skip
    _, plain = xr_coregix.align_image_pair(MOVING, FIXED, tmp_path / "plain.tif", cloud_guard=False)
    assert plain.diagnostics.cloud_excluded == (0.0, 0.0)
    # undilated, the mask excludes exactly the BQA's cloud pixels (every B4 pixel is valid)
    moving_share, fixed_share = masked.diagnostics.cloud_excluded
    assert moving_share == 0.0
    assert fixed_share == pytest.approx(bqa_cloud.mean(), abs=1e-12)
    assert fixed_share == pytest.approx(0.3354, abs=1e-4)
    assert_near_identity(masked, grid)  # measured: 0.02 px (no mask, no guard: 0.19)


def test_b_cli_with_a_landsat_qa_mask_file(separate, grid, bqa_cloud):
    status, out, fit_json = separate
    assert status == 0
    fit = xr_coregix.RigidTransform.from_json(fit_json.read_text())
    assert rioxarray.open_rasterio(out).rio.transform() == grid.affine  # B3's grid is B4's
    # grown by the default 3 pixels (and the guard's bright pixels): more than the BQA's own
    # share, not the whole scene
    share = fit.diagnostics.cloud_excluded[1]
    assert bqa_cloud.mean() + 0.1 < share < 0.7  # measured 0.548
    assert_near_identity(fit, grid)  # measured: 0.04-0.05 px


def test_c_band_of_the_image_itself_matches_the_separate_file(tmp_path, separate):
    b4, bqa = rioxarray.open_rasterio(FIXED), rioxarray.open_rasterio(BQA)
    assert bqa.rio.transform() == b4.rio.transform() and bqa.dtype == b4.dtype
    stacked = xr.concat([b4, bqa.assign_coords(x=b4.x, y=b4.y)], dim="band")
    stacked = stacked.assign_coords(band=[1, 2])
    fixed = tmp_path / "b4_bqa.tif"
    stacked.rio.to_raster(fixed)
    out, fit_json = tmp_path / "out" / "out.tif", tmp_path / "out" / "fit.json"
    out.parent.mkdir()
    argv = ["--moving-image", MOVING, "--fixed-image", fixed, "--output-image", out,
            "--fixed-band-index", "0", "--fixed-mask", "band:1",
            "--fixed-mask-kind", "landsat-bqa-pre", "--transform-out", fit_json]  # fmt: skip
    assert run(argv) == 0
    fit = xr_coregix.RigidTransform.from_json(fit_json.read_text())
    expected = xr_coregix.RigidTransform.from_json(separate[2].read_text())
    np.testing.assert_allclose(fit.translation, expected.translation, atol=1e-6)
    assert fit.rotation == pytest.approx(expected.rotation, abs=1e-6)
    assert fit.diagnostics.cloud_excluded == pytest.approx(
        expected.diagnostics.cloud_excluded, abs=1e-6
    )


def test_e_a_15m_mask_is_put_on_the_30m_grid(tmp_path, grid, bqa_cloud, capsys):
    # the BQA's clouds on the 15 m grid of B8 (half a 15 m pixel off B4's pixel edges, and
    # 7.5 m short of B4's east edge), and a block of nodata (255) that is not cloud
    b8 = rioxarray.open_rasterio(DATA / "scene_B8.tif")
    assert b8.rio.bounds()[2] == grid.boundingbox.right - 7.5
    x, y = b8.x.values, b8.y.values
    row = np.floor((grid.affine.f - y) / 30).astype(int)[:, None]
    col = np.floor((x - grid.affine.c) / 30).astype(int)[None, :]
    inside = (row >= 0) & (row < grid.shape[0]) & (col >= 0) & (col < grid.shape[1])
    values = np.where(
        inside, bqa_cloud[row.clip(0, grid.shape[0] - 1), col.clip(0, grid.shape[1] - 1)], 0
    ).astype(np.uint8)
    values[900:, :1000][values[900:, :1000] == 0] = 255  # 1/5 of the scene
    mask = xr.DataArray(values, dims=("y", "x"), coords={"y": y, "x": x})
    path = tmp_path / "mask15.tif"
    mask.rio.write_crs(grid.crs.epsg).rio.write_nodata(255).rio.to_raster(path)
    out = tmp_path / "out" / "out.tif"
    out.parent.mkdir()
    argv = [*base_args(out), "--fixed-mask", path, "--mask-dilation", "0", "--cloud-guard", "off"]
    assert run(argv) == 0
    fit = xr_coregix.RigidTransform.from_dict(json.loads(capsys.readouterr().out))
    # a 30 m pixel is excluded when any 15 m pixel over it is: the BQA's clouds and at most
    # their 8-neighbours (the nodata block, were it excluded, would make the share 0.586)
    share = fit.diagnostics.cloud_excluded[1]
    grown = ndimage.binary_dilation(bqa_cloud, np.ones((3, 3), bool)).mean()
    assert bqa_cloud.mean() < share <= grown  # measured 0.3354 < 0.3976 <= 0.4454
    assert_near_identity(fit, grid)  # measured: 0.01-0.02 px


@pytest.fixture(scope="module")
def bad_masks(tmp_path_factory):
    """Mask files that must be refused: another CRS, two bands, floats for a QA kind."""
    folder = tmp_path_factory.mktemp("bad")
    bqa = rioxarray.open_rasterio(BQA)
    paths = {name: folder / f"{name}.tif" for name in ("crs", "bands", "float")}
    bqa.rio.write_crs("EPSG:32617").rio.to_raster(paths["crs"])
    xr.concat([bqa, bqa], dim="band").assign_coords(band=[1, 2]).rio.to_raster(paths["bands"])
    bqa.astype(np.float32).rio.to_raster(paths["float"])
    return paths


@pytest.fixture
def no_registration(monkeypatch):
    """Fail the test if a registration starts."""

    def refuse(*args, **kwargs):
        raise AssertionError("register was called")

    monkeypatch.setattr(xr_coregix.pipeline, "register_with", refuse)


CLI_ERRORS = [
    (["--fixed-mask", "/no/such/mask.tif"], "--fixed-mask '/no/such/mask.tif' does not exist"),
    (["--moving-mask-kind", "bogus"], "argument --moving-mask-kind: invalid choice: 'bogus'"),
    (["--fixed-mask", "band:7"], "--fixed-mask band:7 is out of range: --fixed-image has 1"),
    (["--fixed-mask", "band:x"], "--fixed-mask band:x: write band:N"),
    (["--moving-mask", "band:-1"], "--moving-mask band:-1: write band:N"),
    (["--mask-dilation", "-1"], "argument --mask-dilation: '-1'"),
    (["--mask-dilation", "two"], "argument --mask-dilation: 'two'"),
    (["--cloud-guard", "maybe"], "argument --cloud-guard: invalid choice: 'maybe'"),
    (["--fixed-mask", "{crs}"], "is in EPSG:32617 but --fixed-image is in EPSG:32616"),
    (["--moving-mask", "{bands}"], "has 2 bands: a mask file has one"),
    (["--fixed-mask-kind", "scl"], "--fixed-mask-kind scl is given without --fixed-mask"),
    (["--fixed-mask", "{float}", "--fixed-mask-kind", "landsat-bqa-pre"],
     "--fixed-mask read as --fixed-mask-kind landsat-bqa-pre: qa has dtype float32"),
]  # fmt: skip


@pytest.mark.parametrize("extra,message", CLI_ERRORS)
def test_d_bad_mask_flags_are_one_line_and_write_nothing(
    tmp_path, capsys, bad_masks, no_registration, extra, message
):
    extra = [a.format(**bad_masks) for a in extra]
    out = tmp_path / "out.tif"
    assert run([*base_args(out), "--transform-out", tmp_path / "fit.json", *extra]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("align-image-pair: error: ") and message in err, err
    assert "\n" not in err and captured.out == ""
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"fixed_mask": "/no/such/mask.tif"}, "fixed_mask '/no/such/mask.tif' does not exist"),
        ({"moving_mask_kind": "QA"}, "moving_mask_kind='QA': choose one of nonzero, "),
        ({"fixed_mask": "band:1"}, "fixed_mask='band:1' is out of range: fixed_image_path has 1"),
        ({"moving_mask": "{crs}"}, "is in EPSG:32617 but moving_image_path is in EPSG:32616"),
        ({"fixed_mask": "{bands}"}, "fixed_mask '{bands}' has 2 bands"),
    ],
)
def test_align_image_pair_refuses_bad_masks_up_front(
    tmp_path, bad_masks, no_registration, kwargs, message
):
    kwargs = {k: v.format(**bad_masks) for k, v in kwargs.items()}
    with pytest.raises(xr_coregix.CoregError) as caught:
        xr_coregix.align_image_pair(MOVING, FIXED, tmp_path / "out.tif", **kwargs)
    assert message.format(**bad_masks) in str(caught.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "flags,expected",
    [
        ([], {"mask_dilation": 3, "cloud_guard": True, "fixed_mask_kind": "nonzero"}),
        (["--cloud-guard", "auto"], {"cloud_guard": True}),
        (["--cloud-guard", "off"], {"cloud_guard": False}),
        (["--cloud-guard", "cold"], {"cloud_guard": "cold"}),
        (["--mask-dilation", "0", "--moving-mask", "band:0", "--moving-mask-kind", "scl"],
         {"mask_dilation": 0, "moving_mask": "band:0", "moving_mask_kind": "scl"}),
    ],
)  # fmt: skip
def test_flags_reach_align_image_pair(tmp_path, monkeypatch, capsys, flags, expected):
    seen = {}

    def record(*args, **kwargs):
        seen.update(kwargs)
        raise xr_coregix.CoregError("recorded")

    monkeypatch.setattr(xr_coregix.pipeline, "align_image_pair", record)
    assert run([*base_args(tmp_path / "out.tif"), *flags]) == 2
    assert "recorded" in capsys.readouterr().err
    assert {k: seen[k] for k in expected} == expected


def test_nonzero_masks_keep_nodata_and_nan(tmp_path):
    image = rioxarray.open_rasterio(FIXED)
    coords = {"y": image.y[:2].values, "x": image.x[:3].values}
    ints = xr.DataArray(np.array([[0, 1, 255], [7, 0, 255]], np.uint8), dims=("y", "x"),
                        coords=coords)  # fmt: skip
    floats = xr.DataArray(np.array([[0, 0.5, np.nan], [-1, 0, -9999]], np.float32),
                          dims=("y", "x"), coords=coords)  # fmt: skip
    for name, da, nodata in (("ints", ints, 255), ("floats", floats, -9999)):
        path = tmp_path / f"{name}.tif"
        da.rio.write_crs(image.rio.crs).rio.write_nodata(nodata).rio.to_raster(path)
        mask = open_mask(path, "nonzero", image, name="m", kind_name="k", image_name="i")
        assert mask.dtype == bool and mask.rio.crs == image.rio.crs
        assert mask.values.tolist() == [[False, True, False], [True, False, False]], name
