"""The example scripts run as a user would run them."""

import subprocess
import sys
from pathlib import Path

import rioxarray

from xr_coregix.data import example_pair

ROOT = Path(__file__).resolve().parents[1]


def test_quickstart_writes_the_aligned_raster(tmp_path):
    out = tmp_path / "aligned.tif"
    run = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py"), str(out)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert "RigidTransform(shift=" in run.stdout
    _, fixed = example_pair()
    aligned = rioxarray.open_rasterio(out)
    assert aligned.rio.transform() == fixed.rio.transform()
    assert aligned.rio.crs == fixed.rio.crs
    assert aligned.dtype == fixed.dtype
    assert aligned.rio.nodata == 0


def test_time_cube_example_registers_every_date(tmp_path):
    run = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "time_cube.py")],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert "TransformSeries(3 along 'time', 3 registered)" in run.stdout
