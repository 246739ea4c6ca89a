"""The options of register and apply: one frozen object each, checked once, when the call is made
(``xr_coregix.xr.arguments``), before any pixel is read or any task built."""

import dataclasses
import re

import dask.array as dsa
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import xr_coregix
import xr_coregix.pipeline
from xr_coregix import CoregError, RigidTransform
from xr_coregix.xr import arguments
from xr_coregix.xr.arguments import RegisterOptions

DEFAULTS = {
    "moving_band": 0, "fixed_band": 0, "edge_proxy": True, "stages": ("translation", "rigid"),
    "moving_nodata": None, "fixed_nodata": None, "min_valid_fraction": 0.01,
    "solve_resolution": None, "split_factor": None, "max_shift": 50.0, "on_failure": "raise",
    "mask_dilation": 3, "cloud_guard": True,
}  # fmt: skip


def exactly(message):
    return pytest.raises(CoregError, match=f"^{re.escape(message)}$")


def unreadable(like: xr.DataArray) -> xr.DataArray:
    """``like`` backed by dask blocks that fail when read: any read ends the test."""

    def fail(block):
        raise AssertionError("a pixel was read")

    data = dsa.from_array(np.asarray(like.values), chunks=-1).map_blocks(fail, dtype=like.dtype)
    return like.copy(data=data)


@pytest.mark.parametrize(
    "change,message",
    [
        ({"edge_proxy": "yes"}, "edge_proxy='yes': pass True (edge proxies) or False (raw values)"),
        (
            {"stages": "rigid"},
            "stages='rigid': pass ('translation', 'rigid'), ('translation',) or ('rigid',)",
        ),
        (
            {"stages": ("rigid", "translation")},
            (
                "stages=('rigid', 'translation'): pass ('translation', 'rigid'), ('translation',) "
                "or ('rigid',)"
            ),
        ),
        (
            {"moving_nodata": "0"},
            "moving_nodata='0' must be a number, or None for the metadata's",
        ),
        (
            {"min_valid_fraction": float("nan")},
            "min_valid_fraction=nan must be a number between 0 and 1",
        ),
        (
            {"solve_resolution": float("inf")},
            "solve_resolution=inf must be a positive pixel size in CRS units",
        ),
        ({"split_factor": True}, "split_factor=True must be a whole number, 0 or more"),
        ({"split_factor": 1.5}, "split_factor=1.5 must be a whole number, 0 or more"),
        ({"max_shift": 0}, "max_shift=0 must be a positive number of pixels"),
        ({"on_failure": "ignore"}, "on_failure='ignore': pass 'raise' or 'warn'"),
        (
            {"mask_dilation": 101},
            "mask_dilation=101 must be a whole number of reference pixels from 0 to 100",
        ),
        (
            {"mask_dilation": 2.0},
            "mask_dilation=2.0 must be a whole number of reference pixels from 0 to 100",
        ),
        (
            {"cloud_guard": "dark"},
            (
                "cloud_guard='dark': pass True (or 'auto'), 'bright' (reflective bands), 'cold' "
                "(thermal bands) or False"
            ),
        ),
    ],
)
def test_register_refuses_a_bad_option_before_reading_anything(fixed, change, message):
    moving = unreadable(fixed)
    with exactly(message):
        xr_coregix.register(moving, fixed, **change)
    with exactly(message):  # a lazy fit too: at the call, not when computed
        xr_coregix.register(moving, fixed, compute=False, **change)
    with exactly(message):
        RegisterOptions(**{**DEFAULTS, **change})


def test_options_are_normalised_once():
    options = RegisterOptions(
        **{**DEFAULTS, "stages": ["rigid"], "split_factor": np.int64(2),
           "min_valid_fraction": np.float32(0.5), "mask_dilation": np.uint8(4),
           "cloud_guard": np.True_, "edge_proxy": np.False_}
    )  # fmt: skip
    assert options.stages == ("rigid",)
    assert (options.split_factor, options.mask_dilation) == (2, 4)
    assert type(options.split_factor) is int and type(options.min_valid_fraction) is float
    assert options.min_valid_fraction == 0.5
    assert options.cloud_guard is True and options.edge_proxy is False
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.max_shift = 1.0


def test_register_signature_defaults_pass_the_checks():
    import inspect

    signature = inspect.signature(xr_coregix.register)
    defaults = {name: p.default for name, p in signature.parameters.items() if name in DEFAULTS}
    assert defaults == DEFAULTS  # the defaults this file assumes are register's
    assert dataclasses.asdict(RegisterOptions(**defaults)) == DEFAULTS


def test_a_cube_checks_its_options_once(b4, fixed, monkeypatch):
    calls = []
    original = RegisterOptions.__post_init__

    def counted(self):
        calls.append(1)
        original(self)

    monkeypatch.setattr(RegisterOptions, "__post_init__", counted)
    dates = pd.to_datetime(["2024-06-01", "2024-07-01", "2024-08-01"])
    cube = xr.concat([fixed, fixed, fixed], "time").assign_coords(time=dates)
    series = xr_coregix.register(cube, fixed, split_factor=0)
    assert len(series) == 3 and not series.failed
    assert len(calls) == 1  # built by register, handed to the three dates' tasks as it is


def test_align_image_pair_refuses_a_bad_option_before_opening_a_file(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a file was opened")

    monkeypatch.setattr(xr_coregix.pipeline, "open_raster", refuse)
    moving, fixed = xr_coregix.data.example_paths()
    out = tmp_path / "out.tif"
    with exactly("min_valid_fraction=2 must be a number between 0 and 1"):
        xr_coregix.align_image_pair(moving, fixed, out, min_valid_fraction=2)
    with exactly("output_nodata='0' must be a number, or None for the source's nodata "
                 "(else the reference's, else 0)"):  # fmt: skip
        xr_coregix.align_image_pair(moving, fixed, out, output_nodata="0")
    assert list(tmp_path.iterdir()) == []


METHODS = (
    "nearest, bilinear, cubic, cubic_spline, lanczos, average, mode, max, min, med, q1, q3, sum, "
    "rms"
)


@pytest.fixture(scope="module")
def shifted(fixed):
    return RigidTransform(0.0, (30.0, 0.0), crs=fixed.rio.crs)


@pytest.mark.parametrize(
    "change,message",
    [
        ({"resampling": "bicubic"}, f"resampling='bicubic': choose one of {METHODS}"),
        ({"resampling": None}, f"resampling=None: choose one of {METHODS}"),
        (
            {"grid": "moving"},
            "grid='moving': choose one of ('source', 'reference', 'native') or pass a GeoBox",
        ),
        (
            {"output_nodata": "0"},
            (
                "output_nodata='0' must be a number, or None for the source's nodata (else the "
                "reference's, else 0)"
            ),
        ),
    ],
)
def test_apply_refuses_a_bad_option_when_called_not_when_computed(fixed, shifted, change, message):
    lazy = unreadable(fixed)
    with exactly(message):  # before: a bad resampling went through, and GDAL refused at compute
        xr_coregix.apply(lazy, shifted, **change)
    with exactly(message):
        lazy.coreg.apply(shifted, **change)


def test_apply_takes_resampling_names_in_any_case(fixed, shifted):
    upper = xr_coregix.apply(fixed, shifted, resampling="Nearest")
    lower = xr_coregix.apply(fixed, shifted, resampling="nearest")
    np.testing.assert_array_equal(upper.values, lower.values)
    # one column moved in, the rest the source's values one pixel west
    np.testing.assert_array_equal(upper.values[0, :, 1:], fixed.values[0, :, :-1])


def test_the_checks_live_in_one_module():
    """No other module of the package repeats an option check's message."""
    from pathlib import Path

    package = Path(xr_coregix.__file__).parent
    phrases = ("must be a number between 0 and 1", "pass 'raise' or 'warn'",
               "must be a positive number of pixels", "must be a positive pixel size")  # fmt: skip
    found = {
        path.relative_to(package).as_posix()
        for path in package.rglob("*.py")
        for phrase in phrases
        if phrase in path.read_text(encoding="utf-8")
    }
    assert found == {Path(arguments.__file__).relative_to(package).as_posix(), "errors.py"}
