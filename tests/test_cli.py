"""align-image-pair and trim-edge-invalid, end to end on the bundled pair."""

import json
import subprocess
import sys

import numpy as np
import pytest
import rioxarray

import xr_coregix
from xr_coregix.cli import align_main, trim_main
from xr_coregix.data import example_pair, example_paths

MOVING, FIXED = (str(p) for p in example_paths())


def test_every_coregix_flag_is_accepted(tmp_path, capsys):
    out = tmp_path / "out.tif"
    argv = [
        "--moving-image", MOVING, "--fixed-image", FIXED, "--output-image", str(out),
        "--band-index", "0", "--moving-band-index", "0", "--fixed-band-index", "0",
        "--use-edge-proxies", "--split-factor", "0", "--moving-nodata", "0",
        "--fixed-nodata", "65535", "--output-nodata", "0", "--min-valid-fraction", "0.05",
        "--solve-resolution", "30", "--temp-dir", str(tmp_path), "--keep-temp-dir",
        "--log-to-console", "--clip-fixed-to-moving", "--output-on-moving-grid",
        "--trim-edge-invalid", "--edge-trim-depth", "4", "--edge-trim-detection-band-index", "0",
        "--edge-trim-invalid-below", "0", "--edge-trim-invalid-above", "65535",
        "--enforce-mutual-valid-mask", "--transform-out", str(tmp_path / "fit.json"),
        "--no-progress",
    ]  # fmt: skip
    assert align_main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    fit = xr_coregix.RigidTransform.from_dict(printed)
    saved = xr_coregix.RigidTransform.from_json((tmp_path / "fit.json").read_text())
    assert saved == fit
    moving, _ = example_pair()
    written = rioxarray.open_rasterio(out)
    assert written.rio.transform() == moving.rio.transform()  # the moving grid
    assert written.dtype == moving.dtype and written.rio.nodata == 0
    assert int((written == 0).sum()) > int((moving == 0).sum())  # trimmed


def test_progress_goes_to_stderr_and_stdout_stays_json(tmp_path, capsys):
    out = tmp_path / "out.tif"
    argv = ["--moving-image", MOVING, "--fixed-image", FIXED, "--output-image", str(out),
            "--split-factor", "1", "--progress"]  # fmt: skip
    assert align_main(argv) == 0
    printed = capsys.readouterr()
    json.loads(printed.out)  # the fit alone
    # one bar per step (the chunk solves' several computes in one), not on a terminal: its
    # start and its 100 % line (tests/test_logging.py checks the bars further)
    lines = printed.err.splitlines()
    assert [line.split("[")[0].strip() for line in lines] == [
        "registering ...", "registering", "warping + writing ...", "warping + writing"
    ]  # fmt: skip
    assert [line.count("100%") for line in lines] == [0, 1, 0, 1]


def test_negated_flags_and_reference_grid(tmp_path, capsys):
    out = tmp_path / "out.tif"
    argv = [
        "--moving-image", MOVING, "--fixed-image", FIXED, "--output-image", str(out),
        "--no-use-edge-proxies", "--no-output-on-moving-grid", "--no-trim-edge-invalid",
        "--no-enforce-mutual-valid-mask", "--no-clip-fixed-to-moving",
        "--solve-resolutions", "120,60,0", "--cog",
    ]  # fmt: skip
    assert align_main(argv) == 0
    assert not json.loads(capsys.readouterr().out)["diagnostics"]["edge_proxy"]
    _, fixed = example_pair()
    assert rioxarray.open_rasterio(out).rio.transform() == fixed.rio.transform()


def test_native_grid_only_rewrites_the_georeference(tmp_path, capsys):
    out = tmp_path / "out.tif"
    argv = ["--moving-image", MOVING, "--fixed-image", FIXED, "--output-image", str(out),
            "--output-grid", "native"]  # fmt: skip
    assert align_main(argv) == 0
    fit = xr_coregix.RigidTransform.from_dict(json.loads(capsys.readouterr().out))
    moving, _ = example_pair()
    written = rioxarray.open_rasterio(out)
    np.testing.assert_array_equal(written.values, moving.values)
    assert written.rio.transform().almost_equals(fit.affine @ moving.rio.transform(), 1e-9)


@pytest.mark.parametrize(
    "change,message",
    [
        ({"--fixed-image": "/no/such.tif"}, "does not exist"),
        ({"--output-image": "/no/such/dir/out.tif"}, "does not exist: create it first"),
        ({"--band-index": "5"}, "is out of range"),
        ({"--min-valid-fraction": "1.5"}, "must be a number between 0 and 1"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, change, message):
    args = {"--moving-image": MOVING, "--fixed-image": FIXED,
            "--output-image": str(tmp_path / "out.tif"), **change}  # fmt: skip
    assert align_main([x for kv in args.items() for x in kv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("align-image-pair: error:") and message in err
    assert "\n" not in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_python_dash_m_runs_the_cli(tmp_path):
    out = tmp_path / "out.tif"
    argv = ["--moving-image", MOVING, "--fixed-image", FIXED, "--output-image", str(out)]
    run = subprocess.run(
        [sys.executable, "-m", "xr_coregix", *argv], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["output_image_path"] == str(out)


def test_trim_edge_invalid_command(tmp_path, capsys):
    out = tmp_path / "trimmed.tif"
    assert (
        trim_main(["--input-image", MOVING, "--output-image", str(out), "--edge-depth", "2"]) == 0
    )
    moving, _ = example_pair()
    trimmed = rioxarray.open_rasterio(out)
    assert int((trimmed == 0).sum()) == int((xr_coregix.trim_edge_invalid(moving, 2) == 0).sum())
