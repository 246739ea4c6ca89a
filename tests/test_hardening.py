"""Bad input, divergence and faults: a clear exception, and nothing written."""

import os
import shutil
from pathlib import Path

import dask
import numpy as np
import pytest
import xarray as xr
from synthetic import misregister, rigid

import xr_coregix
from xr_coregix import (
    DataTypeError,
    Diagnostics,
    GridError,
    NoOverlapError,
    NoStructureError,
    RegistrationError,
    RegistrationWarning,
    RigidTransform,
    StageResult,
    displacement_error,
)
from xr_coregix.cli import align_main
from xr_coregix.core.checks import metric_got_worse, moved_pixels, problems
from xr_coregix.data import example_paths

MOVING, FIXED = (str(p) for p in example_paths())


@pytest.mark.parametrize("edge_proxy", [True, False])
def test_constant_image_has_no_structure(fixed, edge_proxy):
    flat = fixed.copy(data=np.full(fixed.shape, 500, dtype=fixed.dtype))
    with pytest.raises(NoStructureError, match="moving has no structure"):
        xr_coregix.register(flat, fixed, edge_proxy=edge_proxy)


def test_nodata_outside_the_dtype(fixed):
    with pytest.raises(DataTypeError, match=r"moving_nodata=-1.0 cannot occur in uint16"):
        xr_coregix.register(fixed, fixed, moving_nodata=-1)
    odd = fixed.copy()
    odd.attrs["_FillValue"] = 70000
    with pytest.raises(DataTypeError, match=r"the nodata of fixed=70000.0 cannot occur"):
        xr_coregix.register(fixed, odd)


def test_output_nodata_not_representable(fixed):
    fit = RigidTransform(0.0, (30.0, 0.0), crs=fixed.rio.crs)
    with pytest.raises(DataTypeError, match=r"output_nodata=-9999 cannot occur in uint16"):
        xr_coregix.apply(fixed, fit, output_nodata=-9999)
    with pytest.raises(DataTypeError, match=r"output_nodata=nan cannot occur in uint16"):
        xr_coregix.apply(fixed, fit, output_nodata=float("nan"))


@pytest.mark.parametrize("dtype", [np.complex64, bool, object])
def test_unsupported_dtypes(fixed, dtype):
    odd = fixed.copy(data=fixed.values.astype(dtype))
    with pytest.raises(DataTypeError, match=f"moving has dtype {np.dtype(dtype)}"):
        xr_coregix.register(odd, fixed)
    with pytest.raises(DataTypeError, match="convert it"):
        xr_coregix.apply(odd, RigidTransform(0.0, (0.0, 0.0)))


def test_rotated_source_georeference_is_supported(b4, fixed):
    """A raster under a rotated geotransform (what grid="native" writes) registers and warps:
    registering the lossless result of a fit against the reference finds nothing left."""
    grid = fixed.odc.geobox
    moving = misregister(b4, rigid(1.2, -0.8, 0.7, grid), grid)
    fit = xr_coregix.register(moving, fixed)
    native = xr_coregix.apply(moving, fit, grid="native")
    assert not native.odc.geobox.axis_aligned
    left = xr_coregix.register(native, fixed)
    assert displacement_error(left, RigidTransform.identity(), grid)[0] < 0.05
    assert xr_coregix.apply(native, left, grid="reference").odc.geobox == grid


def test_rasters_too_small(fixed):
    with pytest.raises(GridError, match="at least 2 along each spatial dim"):
        xr_coregix.register(fixed.isel(x=slice(0, 1)), fixed)
    with pytest.raises(NoOverlapError, match="smaller than the 24 x 24"):
        xr_coregix.register(fixed.isel(x=slice(0, 10), y=slice(0, 10)), fixed)


def test_shift_beyond_max_shift_raises_or_warns(b4, fixed):
    grid = fixed.odc.geobox
    moving = misregister(b4, rigid(6.0, 0.0, 0.0, grid), grid)
    with pytest.raises(RegistrationError, match=r"more than max_shift=3.*on_failure='warn'"):
        xr_coregix.register(moving, fixed, max_shift=3)
    with pytest.warns(RegistrationWarning, match="max_shift=3"):
        fit = xr_coregix.register(moving, fixed, max_shift=3, on_failure="warn")
    assert not fit.diagnostics.reliable and "UNRELIABLE" in repr(fit)
    assert fit.shift_in_pixels(grid) == pytest.approx((6.0, 0.0), abs=0.02)


def test_an_unreliable_fit_warns_at_the_callers_line(b4, fixed):
    """The warning points at the user's call, however deep in the package it was found."""
    grid = fixed.odc.geobox
    moving = misregister(b4, rigid(6.0, 0.0, 0.0, grid), grid)
    one_date = moving.expand_dims(time=[np.datetime64("2026-01-01")])
    calls = {
        "register": lambda: xr_coregix.register(moving, fixed, max_shift=3, on_failure="warn"),
        "accessor": lambda: moving.coreg.register(fixed, max_shift=3, on_failure="warn"),
        "a cube of one date": lambda: one_date.coreg.register(
            fixed, max_shift=3, on_failure="warn"
        ),
    }
    for name, call in calls.items():
        with pytest.warns(RegistrationWarning, match="max_shift=3") as caught:
            call()
        ours = [w for w in caught if w.category is RegistrationWarning]
        assert [w.filename for w in ours] == [__file__], name


def diagnostics(**changes):
    base = {
        "metric_before": -0.2, "metric_after": -0.5, "valid_fraction": 1.0, "solve_resolution": (30.0, 30.0),
        "solve_shape": (300, 300), "pixel_size": 30.0, "edge_proxy": True,
        "stages": (StageResult("translation", -0.4, 10, "", 0.0, (60.0, 0.0)),
                StageResult("rigid", -0.5, 10, "", 0.001, (60.0, 0.0))),
    }  # fmt: skip
    return Diagnostics(**{**base, **changes})


def test_a_worse_metric_counts_from_where_the_solve_started():
    """A chunk starts at the global search's shift (here 10 px east) and takes its metric
    there: a worse metric counts against a fit that moved more than a pixel from that start,
    not against one that stayed within a pixel of it (interpolation alone), however far the
    start lies from the identity."""
    worse = diagnostics(metric_after=-0.1)
    start = (300.0, 0.0)  # CRS units: 10 reference pixels
    stayed = RigidTransform(0.0, (315.0, 0.0), (0.0, 0.0), diagnostics=worse)
    wandered = RigidTransform(0.0, (360.0, 0.0), (0.0, 0.0), diagnostics=worse)
    assert moved_pixels(stayed, start) == pytest.approx(0.5)
    assert moved_pixels(stayed) == pytest.approx(10.5)
    assert not metric_got_worse(stayed, start)
    assert metric_got_worse(stayed)  # measured from the identity it moved 10.5 px
    assert metric_got_worse(wandered, start)  # 2 px from its start
    better = RigidTransform(0.0, (360.0, 0.0), (0.0, 0.0), diagnostics=diagnostics())
    assert not metric_got_worse(better, start)


def test_a_fit_whose_error_may_reach_a_solve_pixel_is_not_reliable():
    """Standard errors of (0.3, 0.4) px make a bound of 2.5 * 0.5 = 1.25 reference pixels: no
    sub-pixel fit on a 30 m solve grid, but 0.21 pixels of a 180 m one (solve_resolution asked
    for a coarser grid). Landsat 8 B9 (cirrus) against B4, split factor 2, came out 1.4 px from
    the ground with a bound of 1.14 px, and was called reliable before this check."""
    fit = RigidTransform(0.001, (60.0, 0.0), (0.0, 0.0), diagnostics=diagnostics())
    imprecise = fit.with_diagnostics(diagnostics(shift_precision=(0.3, 0.4)))
    expected = (
        "the fit is imprecise: its error may reach 1.25 px (1.25 solve pixels; its bound in 9 of "
        "10 cases): parts of the area (chunks, or windows of a single solve) that disagree, "
        "content that differs between the rasters, or too little structure"
    )
    assert problems(imprecise, 50) == (expected,)
    coarse = fit.with_diagnostics(
        diagnostics(shift_precision=(0.3, 0.4), solve_resolution=(180.0, 180.0))
    )
    assert problems(coarse, 50) == ()
    # a moving band of 60 m against the 30 m reference holds the fit to its own pixels
    coarse_moving = fit.with_diagnostics(
        diagnostics(shift_precision=(0.3, 0.4), moving_resolution=60.0)
    )
    assert problems(coarse_moving, 50) == ()
    assert problems(
        fit.with_diagnostics(diagnostics(shift_precision=(0.6, 0.8), moving_resolution=60.0)), 50
    )
    assert problems(fit.with_diagnostics(diagnostics(shift_precision=(0.2, 0.3))), 50) == ()


def test_a_fit_on_no_minimum_is_not_reliable():
    """A single solve whose metric does not curve upwards about its fit settled on no minimum.
    Seen on a 2600 x 2600 px Sentinel-2 NIR/red mosaic rotated 0.8 degrees: the solve stopped
    near the identity, 14 px from the truth, with no precision, and was called reliable."""
    fit = RigidTransform(0.001, (60.0, 0.0), (0.0, 0.0), diagnostics=diagnostics())
    flat = fit.with_diagnostics(diagnostics(metric_curved=False))
    expected = (
        "the metric does not curve upwards about the fit (flat, or falling away in some "
        "direction): the solve settled on no minimum, so no precision can be given"
    )
    assert problems(flat, 50) == (expected,)
    assert problems(fit.with_diagnostics(diagnostics(metric_curved=True)), 50) == ()
    assert problems(fit, 50) == ()  # not measured (a chunked fit, an old saved fit)


def test_checks_name_each_problem():
    fit = RigidTransform(0.001, (60.0, 0.0), (0.0, 0.0), diagnostics=diagnostics())
    assert problems(fit, 50) == ()
    worse = fit.with_diagnostics(diagnostics(metric_after=-0.1))
    assert "the metric got worse" in problems(worse, 50)[0]
    # under a pixel from the start, interpolation alone can make the metric worse
    near = RigidTransform(
        0.0,
        (25.0, 0.0),
        (0.0, 0.0),
        diagnostics=diagnostics(
            metric_after=-0.1, stages=(StageResult("translation", -0.1, 10, "", 0.0, (25.0, 0.0)),)
        ),
    )
    assert problems(near, 50) == ()
    apart = RigidTransform(0.001, (120.0, 0.0), (0.0, 0.0), diagnostics=diagnostics())
    assert "stages disagree by 2.00 px" in problems(apart, 50)[0]
    assert "more than max_shift=1" in problems(fit, 1)[0]
    chunks = tuple(
        xr_coregix.ChunkResult(i, (0, 0, 1, 1), "ok", anchors=((0, 0, 0, 0),) * 4,
                               inliers=(True, False, False, False))
        for i in range(2)
    )  # fmt: skip
    split = fit.with_diagnostics(diagnostics(chunks=chunks, split_factor=1))
    assert "kept only 2 of 8 anchors" in problems(split, 50)[0]


def test_cli_unreliable_fit_exits_non_zero_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out.tif"
    argv = ["--moving-image", MOVING, "--fixed-image", FIXED, "--output-image", str(out),
            "--max-shift", "1"]  # fmt: skip
    assert align_main(argv) == 2
    err = capsys.readouterr().err
    assert "the fit is not reliable" in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_cli_truncated_input(tmp_path, capsys):
    broken = tmp_path / "truncated.tif"
    data = Path(MOVING).read_bytes()
    broken.write_bytes(data[: len(data) // 3])
    out = tmp_path / "out.tif"
    code = align_main(["--moving-image", str(broken), "--fixed-image", FIXED,
                       "--output-image", str(out)])  # fmt: skip
    assert code == 2
    assert capsys.readouterr().err.startswith("align-image-pair: error:")
    assert not out.exists()


def test_cli_output_folder_is_a_file(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code = align_main(["--moving-image", MOVING, "--fixed-image", FIXED,
                       "--output-image", str(blocker / "out.tif")])  # fmt: skip
    assert code == 2 and "does not exist" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into a read-only folder")
def test_cli_output_folder_not_writable(tmp_path, capsys):
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o500)
    code = align_main(["--moving-image", MOVING, "--fixed-image", FIXED,
                       "--output-image", str(folder / "out.tif")])  # fmt: skip
    assert code == 2 and "not writable" in capsys.readouterr().err


def test_failed_write_leaves_the_input_untouched(tmp_path):
    source = tmp_path / "moving.tif"
    shutil.copy(MOVING, source)
    before = source.read_bytes()
    moving = xr_coregix.open_raster(source, "moving", chunks=64)

    def explode(block):
        raise OSError("No space left on device")

    failing = moving.copy(data=moving.data.map_blocks(explode, dtype=moving.dtype))
    with pytest.raises(OSError, match="No space left"):
        xr_coregix.write_geotiff(failing, source)  # even over the input itself
    assert source.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["moving.tif"]


@pytest.mark.parametrize("scheduler", ["synchronous", "threads", "processes"])
def test_same_fit_under_every_scheduler(b4, fixed, scheduler):
    grid = fixed.odc.geobox
    moving = misregister(b4, rigid(-0.6, 1.9, 0.3, grid), grid).chunk(100)
    with dask.config.set(scheduler="synchronous"):
        expected = xr_coregix.register(moving, fixed, split_factor=2)
    with dask.config.set(scheduler=scheduler):
        fit = xr_coregix.register(moving, fixed, split_factor=2)
    assert (fit.rotation, fit.translation) == (expected.rotation, expected.translation)
    assert fit.diagnostics == expected.diagnostics


def test_apply_of_an_empty_dataset_variable_list(fixed):
    ds = xr.Dataset({"table": ("k", np.arange(3))})
    with pytest.raises(GridError):
        xr_coregix.register(ds, fixed)
