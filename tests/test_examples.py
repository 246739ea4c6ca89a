"""Every example script runs, offline, as a user would run it."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import rioxarray

from xr_coregix.data import example_pair

pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def run(command, cwd):
    return subprocess.run(command, capture_output=True, text=True, check=True, cwd=cwd)


def test_quickstart_writes_the_aligned_raster(tmp_path):
    out = tmp_path / "aligned.tif"
    done = run([sys.executable, str(EXAMPLES / "quickstart.py"), str(out)], tmp_path)
    assert "RigidTransform(shift=" in done.stdout
    _, fixed = example_pair()
    aligned = rioxarray.open_rasterio(out)
    assert aligned.rio.transform() == fixed.rio.transform()
    assert aligned.rio.crs == fixed.rio.crs
    assert aligned.dtype == fixed.dtype
    assert aligned.rio.nodata == 0


def test_pair_from_files(tmp_path):
    done = run([sys.executable, str(EXAMPLES / "pair_from_files.py"), str(tmp_path)], tmp_path)
    assert "chunk 3:" in done.stdout
    assert {p.name for p in tmp_path.iterdir()} >= {"aligned.tif", "compare.png", "anchors.png"}
    assert (tmp_path / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_dataset_named_bands(tmp_path):
    done = run([sys.executable, str(EXAMPLES / "dataset_named_bands.py")], tmp_path)
    assert "nir: uint16, nodata 0" in done.stdout
    assert "index: float32, nodata nan" in done.stdout
    assert done.stdout.count("on the reference grid: True") == 2


def test_time_cube_example_registers_every_date(tmp_path):
    done = run([sys.executable, str(EXAMPLES / "time_cube.py")], tmp_path)
    assert "TransformSeries(3 along 'time', 3 registered)" in done.stdout


def test_cli_example(tmp_path):
    bin_dir = str(Path(sys.executable).parent)
    env_path = f"{bin_dir}:{__import__('os').environ.get('PATH', '')}"
    subprocess.run(
        ["bash", str(EXAMPLES / "cli.sh"), str(tmp_path)],
        capture_output=True, text=True, check=True, cwd=tmp_path, env={"PATH": env_path},
    )  # fmt: skip
    fit = json.loads((tmp_path / "fit.json").read_text())
    assert fit["type"] == "rigid"
    assert (tmp_path / "compare.png").exists() and (tmp_path / "aligned.tif").exists()


def _summary(stdout):
    return json.loads(stdout.split("summary: ", 1)[1].splitlines()[0])


def test_stac_cube_registers_applies_and_writes_every_date(tmp_path):
    pytest.importorskip("odc.stac")
    figure = tmp_path / "shifts.png"
    done = run(
        [sys.executable, str(EXAMPLES / "stac_cube.py"), str(tmp_path), "--plot", str(figure)],
        tmp_path,
    )
    summary = _summary(done.stdout)
    assert summary["dates"] == 6 and summary["registered"] == 5 and summary["written"] == 5
    assert summary["failed"] == ["2024-09-21"]  # the overcast date
    assert summary["max_error_px"] < 0.05  # every known shift recovered
    assert "only 0.00% of the overlap is valid and clear" in done.stdout
    assert len(list(tmp_path.glob("LC08_*_B4.tif"))) == 6 and (tmp_path / "items.json").exists()
    aligned = sorted(tmp_path.glob("aligned_*.tif"))
    days = ["20240414", "20240516", "20240617", "20240719", "20240820"]  # not the overcast one
    assert [p.name for p in aligned] == [f"aligned_{day}.tif" for day in days]
    assert done.stdout.count("layout COG, on the reference grid: True") == 5
    reference = rioxarray.open_rasterio(tmp_path / "reference_B4.tif")
    first = rioxarray.open_rasterio(aligned[0])
    assert first.odc.geobox == reference.odc.geobox and first.rio.nodata == 0
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_onto_another_grid_aligns_a_15_m_cube_on_a_30_m_grid(tmp_path):
    done = run([sys.executable, str(EXAMPLES / "onto_another_grid.py")], tmp_path)
    assert "moving: {'time': 4, 'y': 1207, 'x': 1254} at 15 m" in done.stdout
    assert "aligned: {'time': 4, 'y': 603, 'x': 627} at 30 m, on the reference grid: True" in (
        done.stdout
    )
    summary = _summary(done.stdout)
    assert summary["dates"] == 4
    assert summary["max_residual_px"] < 0.05 and summary["max_left_after_px"] < 0.05
