"""Command lines and files: path collisions, partial files on signals, one-line errors that name
the flag, split_factor bounds, unreadable blocks and coarse moving rasters."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rioxarray
import xarray as xr
from affine import Affine
from synthetic import inner, misregister, rigid

import xr_coregix
import xr_coregix.io
from xr_coregix import CoregError, RegistrationError, RegistrationWarning, displacement_error
from xr_coregix.cli import align_main, trim_main, with_flags
from xr_coregix.data import example_paths
from xr_coregix.io import PARTIAL, RasterIOError, partial_prefix, write_geotiff

MOVING, FIXED = (str(p) for p in example_paths())


def one_line(capsys, prog="align-image-pair", kind="error"):
    """The one line on stderr (asserted to be one, from ``prog``), the captured stdout."""
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"{prog}: {kind}: "), lines[0]
    return lines[0], captured.out


def listing(folder):
    return {p.name: p.read_bytes() for p in Path(folder).iterdir() if p.is_file()}


@pytest.fixture
def files(tmp_path):
    """Copies of the example pair (and a mask file) in their own folder."""
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(MOVING, folder / "moving.tif")
    shutil.copy(FIXED, folder / "fixed.tif")
    shutil.copy(MOVING, folder / "mask.tif")
    return folder


def _refuse(*args, **kwargs):
    raise AssertionError("work started")


@pytest.fixture
def no_registration(monkeypatch):
    """Fail the test if a registration starts."""
    monkeypatch.setattr(xr_coregix.pipeline, "register_with", _refuse)


@pytest.fixture
def no_work(monkeypatch, no_registration):
    """Fail the test if align_image_pair opens a raster or a registration starts."""
    monkeypatch.setattr(xr_coregix.pipeline, "open_raster", _refuse)


# ------------------------------------------------------------------ 4. path collisions

# (keyword or flag, the file it takes in ``files``); the output defaults to a new out.tif
COLLISIONS = {
    "output is moving": ({"output": "moving.tif"}, "output", "moving"),
    "output is fixed": ({"output": "fixed.tif"}, "output", "fixed"),
    "output is the moving mask": ({"output": "mask.tif", "moving_mask": "mask.tif"}, "output",
                                  "moving_mask"),
    "output is the fixed mask": ({"output": "mask.tif", "fixed_mask": "mask.tif"}, "output",
                                 "fixed_mask"),
    "transform is the output": ({"transform": "out.tif"}, "transform", "output"),
    "transform is fixed": ({"transform": "fixed.tif"}, "transform", "fixed"),
    "plot is moving": ({"plot": "moving.tif"}, "plot", "moving"),
    "plot is the transform": ({"transform": "fit.json", "plot": "fit.json"}, "plot", "transform"),
}  # fmt: skip
KEYWORDS = {
    "output": "output_image_path", "moving": "moving_image_path", "fixed": "fixed_image_path",
    "transform": "transform_out", "plot": "plot", "moving_mask": "moving_mask",
    "fixed_mask": "fixed_mask",
}  # fmt: skip
FLAGS = {
    "output": "--output-image", "moving": "--moving-image", "fixed": "--fixed-image",
    "transform": "--transform-out", "plot": "--plot", "moving_mask": "--moving-mask",
    "fixed_mask": "--fixed-mask",
}  # fmt: skip


def _paths(files, given):
    paths = {"moving": "moving.tif", "fixed": "fixed.tif", "output": "out.tif", **given}
    return {k: str(files / v) for k, v in paths.items()}


@pytest.mark.parametrize("case", COLLISIONS)
def test_align_image_pair_refuses_an_output_that_is_an_input_or_another_output(
    files, no_work, case
):
    given, target, other = COLLISIONS[case]
    paths = _paths(files, given)
    before = listing(files)
    kwargs = {KEYWORDS[k]: v for k, v in paths.items() if k not in ("moving", "fixed", "output")}
    with pytest.raises(RasterIOError) as caught:
        xr_coregix.align_image_pair(paths["moving"], paths["fixed"], paths["output"], **kwargs)
    assert str(caught.value).startswith(
        f"{KEYWORDS[target]} {paths[target]!r} is the same file as {KEYWORDS[other]} "
        f"{paths[other]!r}: "
    )
    assert listing(files) == before


@pytest.mark.parametrize("case", COLLISIONS)
def test_cli_refuses_an_output_that_is_an_input_or_another_output(files, no_work, capsys, case):
    given, target, other = COLLISIONS[case]
    paths = _paths(files, given)
    before = listing(files)
    argv = [x for k, v in paths.items() for x in (FLAGS[k], v)]
    assert align_main(argv) == 2
    line, out = one_line(capsys)
    assert line.startswith(
        f"align-image-pair: error: {FLAGS[target]} {paths[target]!r} is the same file as "
        f"{FLAGS[other]} {paths[other]!r}: "
    )
    assert out == "" and listing(files) == before


def _link(files, how):
    """Another name of files/moving.tif: relative with ./, a hard link, a symlink."""
    if how == "dot":
        return "./moving.tif"
    link = files / f"{how}.tif"
    (os.link if how == "hard" else os.symlink)(files / "moving.tif", link)
    return str(link)


@pytest.mark.parametrize("how", ["dot", "hard", "symlink"])
def test_another_name_of_the_input_is_the_input(files, no_work, monkeypatch, capsys, how):
    monkeypatch.chdir(files)
    output = _link(files, how)
    before = listing(files)
    with pytest.raises(RasterIOError, match="is the same file as moving_image_path"):
        xr_coregix.align_image_pair("moving.tif", "fixed.tif", output)
    argv = ["--moving-image", "moving.tif", "--fixed-image", "fixed.tif", "--output-image", output]
    assert align_main(argv) == 2
    line, _ = one_line(capsys)
    assert f"--output-image {output!r} is the same file as --moving-image 'moving.tif'" in line
    assert listing(files) == before


@pytest.mark.parametrize("how", ["same", "dot", "hard", "symlink"])
def test_trim_refuses_to_replace_its_input_without_in_place(files, monkeypatch, capsys, how):
    monkeypatch.chdir(files)
    output = "moving.tif" if how == "same" else _link(files, how)
    before = listing(files)
    assert trim_main(["--input-image", "moving.tif", "--output-image", output]) == 2
    line, out = one_line(capsys, "trim-edge-invalid")
    assert line == (
        f"trim-edge-invalid: error: --output-image {output!r} is the same file as --input-image "
        "'moving.tif': pass --in-place to replace the input, or choose another path"
    )
    assert out == "" and listing(files) == before


def test_trim_in_place_with_another_output_is_refused(files, capsys):
    argv = ["--input-image", str(files / "moving.tif"), "--output-image", str(files / "o.tif")]
    with pytest.raises(SystemExit) as caught:
        trim_main([*argv, "--in-place"])
    assert caught.value.code == 2
    line, _ = one_line(capsys, "trim-edge-invalid")
    assert "--in-place replaces --input-image: pass --output-image or --in-place" in line
    assert not (files / "o.tif").exists()


# ------------------------------------------------------------------ 7. partial files


def _handlers():
    return {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}


SIGTERM_WRITER = """
import sys
from xr_coregix.cli import trim_main
sys.exit(trim_main(sys.argv[1:]))
"""


def test_sigterm_during_a_write_leaves_no_partial_file(tmp_path):
    """trim-edge-invalid on a 4096 x 4096 raster of noise (a few seconds of deflate) gets
    SIGTERM once its partial file is there: the file goes, and the exit status is SIGTERM's."""
    n = 4096
    source = tmp_path / "noise.tif"
    values = np.random.default_rng(0).integers(1, 60000, (n, n), dtype=np.uint16)
    profile = {"driver": "GTiff", "width": n, "height": n, "count": 1, "dtype": "uint16",
               "crs": "EPSG:32616", "transform": Affine(10, 0, 0, 0, -10, 0), "nodata": 0,
               "tiled": True, "blockxsize": 512, "blockysize": 512}  # fmt: skip
    with rasterio.open(source, "w", **profile) as ds:
        ds.write(values, 1)
    out = tmp_path / "out.tif"
    argv = ["--input-image", str(source), "--output-image", str(out)]
    run = subprocess.Popen(
        [sys.executable, "-c", SIGTERM_WRITER, *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob(f".out.tif.*{PARTIAL}")):
            assert run.poll() is None, run.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(0.2)  # well inside the write
        run.send_signal(signal.SIGTERM)
        _, err = run.communicate(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode in (-signal.SIGTERM, 128 + signal.SIGTERM), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["noise.tif"]


def _dead_pid():
    child = subprocess.Popen([sys.executable, "-c", ""])
    child.wait()
    return child.pid


def test_the_next_write_removes_stale_partial_files(tmp_path):
    out = tmp_path / "out.tif"
    dead = tmp_path / f"{partial_prefix(out, _dead_pid())}0123abcd{PARTIAL}"
    alive = tmp_path / f"{partial_prefix(out, os.getpid())}0123abcd{PARTIAL}"
    other = tmp_path / f"{partial_prefix(tmp_path / 'other.tif', _dead_pid())}0123abcd{PARTIAL}"
    foreign = tmp_path / f".out.tif.0000000g-{_dead_pid()}-0123abcd{PARTIAL}"  # not our scheme
    for path in (dead, alive, other, foreign):
        path.write_bytes(b"\0" * 1000)
    write_geotiff(rioxarray.open_rasterio(MOVING), out)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["out.tif", alive.name, other.name, foreign.name]
    )
    # from the command line too
    dead.write_bytes(b"\0" * 1000)
    assert trim_main(["--input-image", MOVING, "--output-image", str(out)]) == 0
    assert not dead.exists() and alive.exists()


def test_handlers_are_installed_while_a_write_runs_and_restored_after(tmp_path, monkeypatch):
    seen = []
    original = xr_coregix.io._partial_file

    def recording(target):
        seen.append(_handlers())
        return original(target)

    monkeypatch.setattr(xr_coregix.io, "_partial_file", recording)
    before = _handlers()
    write_geotiff(rioxarray.open_rasterio(MOVING), tmp_path / "a.tif")
    assert _handlers() == before
    # Python's SIGINT (KeyboardInterrupt) unwinds and removes the file: left to it
    assert seen[-1] == {
        signal.SIGTERM: xr_coregix.io._on_signal,
        signal.SIGINT: before[signal.SIGINT],
    }
    # a command line: SIGINT ends the process like SIGTERM, partial file removed first
    assert trim_main(["--input-image", MOVING, "--output-image", str(tmp_path / "b.tif")]) == 0
    assert seen[-1] == dict.fromkeys((signal.SIGTERM, signal.SIGINT), xr_coregix.io._on_signal)
    assert _handlers() == before


# ------------------------------------------------------------------ 8. one line per error


def test_bad_resampling_is_refused_before_any_work(tmp_path, no_work, capsys):
    with pytest.raises(CoregError, match=r"^resampling='bogus': choose one of nearest, bilin"):
        xr_coregix.align_image_pair(MOVING, FIXED, tmp_path / "out.tif", resampling="bogus")
    argv = ["--moving-image", MOVING, "--fixed-image", FIXED,
            "--output-image", str(tmp_path / "out.tif"), "--resampling", "bogus"]  # fmt: skip
    assert align_main(argv) == 2
    line, out = one_line(capsys)
    assert line.startswith(
        "align-image-pair: error: --resampling bogus: choose one of nearest, bilinear, cubic,"
    )
    assert out == "" and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value,shown", [("70000", "70000.0"), ("-1", "-1.0"), ("nan", "nan")])
def test_trim_nodata_the_dtype_cannot_hold(tmp_path, capsys, value, shown):
    out = tmp_path / "out.tif"
    argv = ["--input-image", MOVING, "--output-image", str(out), "--nodata-value", value]
    assert trim_main(argv) == 2
    line, _ = one_line(capsys, "trim-edge-invalid")
    assert line == (
        f"trim-edge-invalid: error: --nodata-value {shown} cannot occur in uint16 data: choose "
        "a value the dtype can hold"
    )
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(CoregError, match=f"^nodata={shown} cannot occur in uint16"):
        xr_coregix.trim_edge_invalid(rioxarray.open_rasterio(MOVING), nodata=float(value))


def test_edge_depth_is_bounded_by_a_quarter_of_the_raster(tmp_path, no_registration, capsys):
    out = tmp_path / "out.tif"
    moving = rioxarray.open_rasterio(MOVING)
    limit = "is more than a quarter of the raster's smaller side (320 px): at most 80"
    with pytest.raises(CoregError, match=re.escape(f"depth=100000 {limit}")):
        xr_coregix.trim_edge_invalid(moving, depth=100000)
    assert xr_coregix.trim_edge_invalid(moving, depth=80).shape == moving.shape
    assert trim_main(["--input-image", MOVING, "--output-image", str(out),
                      "--edge-depth", "100000"]) == 2  # fmt: skip
    line, _ = one_line(capsys, "trim-edge-invalid")
    assert line == f"trim-edge-invalid: error: --edge-depth 100000 {limit}"
    argv = ["--moving-image", MOVING, "--fixed-image", FIXED, "--output-image", str(out),
            "--trim-edge-invalid", "--edge-trim-depth", "81"]  # fmt: skip
    assert align_main(argv) == 2  # before the registration
    line, _ = one_line(capsys)
    assert line == (
        "align-image-pair: error: --edge-trim-depth 81 is more than a quarter of the raster's "
        "smaller side (320 px): at most 80"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("flag", ["--output-image", "--transform-out", "--plot"])
def test_an_output_that_is_a_folder_is_refused_before_any_work(tmp_path, no_work, capsys, flag):
    folder = tmp_path / "folder"
    folder.mkdir()
    paths = {"--output-image": str(tmp_path / "out.tif"), flag: str(folder)}
    argv = ["--moving-image", MOVING, "--fixed-image", FIXED, *(x for kv in paths.items()
                                                                for x in kv)]  # fmt: skip
    assert align_main(argv) == 2
    line, _ = one_line(capsys)
    assert line == (
        f"align-image-pair: error: {flag} {str(folder)!r} is a folder: give the path of a file "
        "to write"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder"]
    assert trim_main(["--input-image", MOVING, "--output-image", str(folder)]) == 2
    line, _ = one_line(capsys, "trim-edge-invalid")
    assert line.endswith(f"--output-image {str(folder)!r} is a folder: give the path of a file "
                         "to write")  # fmt: skip


def test_on_failure_warn_writes_the_fit_and_warns_in_one_line(tmp_path, capsys):
    out = tmp_path / "out.tif"
    argv = ["--moving-image", MOVING, "--fixed-image", FIXED, "--output-image", str(out),
            "--max-shift", "1"]  # fmt: skip
    assert align_main(argv) == 2
    line, _ = one_line(capsys)
    assert line.endswith(
        "Nothing was written; pass --on-failure warn to get the fit anyway, flagged unreliable"
    )
    assert "on_failure" not in line and "max_shift" not in line
    assert list(tmp_path.iterdir()) == []
    assert align_main([*argv, "--on-failure", "warn"]) == 0
    line, printed = one_line(capsys, kind="warning")
    assert re.match(
        r"align-image-pair: warning: unreliable fit: the fit moves pixels up to 5\.\d px, more "
        r"than --max-shift 1",
        line,
    ), line
    record = json.loads(printed)
    assert record["diagnostics"]["reliable"] is False and out.exists()
    # the library: the new keyword reaches register
    with pytest.warns(RegistrationWarning, match="more than max_shift=1") as caught:
        path, fit = xr_coregix.align_image_pair(
            MOVING, FIXED, tmp_path / "lib.tif", max_shift=1, on_failure="warn"
        )
    assert not fit.diagnostics.reliable and path.exists()
    ours = [w for w in caught if w.category is RegistrationWarning]
    assert [w.filename for w in ours] == [__file__]  # the user's line, not the pipeline's


def test_flag_names_replace_keywords_outside_paths():
    flags = {"split_factor": "--split-factor", "plot": "--plot", "max_shift": "--max-shift"}
    assert with_flags("split_factor=40 allows at most split_factor=4, for", flags) == (
        "--split-factor 40 allows at most --split-factor 4, for"
    )
    assert with_flags("plot '/a/split_factor.png' is the plot; raise max_shift", flags) == (
        "--plot '/a/split_factor.png' is the plot; raise --max-shift"
    )


# ------------------------------------------------------------------ 9. split_factor bounds


def test_split_factor_is_bounded_by_the_overlap(fixed, capsys, tmp_path):
    message = (
        "split_factor={} is too large for this pair: its overlap of {} x {} solve pixels "
        "allows at most split_factor={}, for chunks of at least 64 x 64 solve pixels"
    )
    for k in (5, 16, 40):
        with pytest.raises(CoregError) as caught:
            xr_coregix.register(fixed, fixed, split_factor=k)
        assert str(caught.value) == message.format(k, 320, 320, 4)
    with pytest.raises(CoregError) as caught:  # coarser solve pixels, fewer chunks
        xr_coregix.register(fixed, fixed, split_factor=3, solve_resolution=60)
    assert str(caught.value) == message.format(3, 160, 160, 2)
    for k in ("16", "40"):
        argv = ["--moving-image", MOVING, "--fixed-image", FIXED,
                "--output-image", str(tmp_path / "out.tif"), "--split-factor", k]  # fmt: skip
        started = time.monotonic()
        assert align_main(argv) == 2
        assert time.monotonic() - started < 5
        line, _ = one_line(capsys)
        assert line == "align-image-pair: error: " + message.format(k, 304, 304, 4).replace(
            "split_factor=", "--split-factor "
        )
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ 11. reads, coarse pixels


def test_a_truncated_file_is_named_when_its_blocks_are_read(tmp_path, capsys):
    broken = tmp_path / "truncated.tif"
    write_geotiff(rioxarray.open_rasterio(MOVING), broken, blocksize=128)
    data = broken.read_bytes()
    broken.write_bytes(data[: len(data) // 2])  # the header opens; later tiles are missing
    lazy = xr_coregix.open_raster(broken, "moving", chunks=128)
    with pytest.raises(RasterIOError, match=f"^moving {str(broken)!r} could not be read"):
        lazy.load()
    with pytest.raises(RasterIOError, match=f"^moving {str(broken)!r} could not be read"):
        xr_coregix.open_raster(broken, "moving").load()  # without dask too
    out = tmp_path / "out.tif"
    argv = ["--moving-image", str(broken), "--fixed-image", FIXED, "--output-image", str(out)]
    assert align_main(argv) == 2
    line, _ = one_line(capsys)
    assert line.startswith(
        f"align-image-pair: error: --moving-image {str(broken)!r} could not be read (a truncated "
        "or damaged file?): "
    )
    assert trim_main(["--input-image", str(broken), "--output-image", str(out)]) == 2
    line, _ = one_line(capsys, "trim-edge-invalid")
    assert f"--input-image {str(broken)!r} could not be read" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["truncated.tif"]


def _coarse(b4, factor, truth):
    """``b4`` misregistered by ``truth`` and block-averaged ``factor`` times (30 m ->
    30 * factor m), with its own georeference."""
    moving = misregister(b4, truth, b4.odc.geobox).coarsen(x=factor, y=factor).mean()
    return moving.drop_vars("spatial_ref").rio.write_crs(b4.rio.crs)


def test_a_coarse_moving_raster_is_told_to_solve_on_its_pixel_size(b4):
    fixed = inner(b4, 96)  # 192 x 192 at 30 m
    grid = fixed.odc.geobox
    truth = rigid(1.5, 0.5, 0.0, grid)
    moving = _coarse(b4, 6, truth)  # 64 x 64 at 180 m
    try:
        fit = xr_coregix.register(moving, fixed)
    except RegistrationError as err:
        assert str(err).endswith(
            "flagged unreliable; the moving raster's pixel (180) is 6 times the reference's "
            "(30): pass solve_resolution=180 to solve on its pixel size"
        )
    else:  # a future solver may manage: then it must be right
        assert displacement_error(fit, truth, grid)[0] < 0.5
    fit = xr_coregix.register(moving, fixed, solve_resolution=180)
    assert displacement_error(fit, truth, grid)[0] < 0.5  # reference pixels


def test_cli_suggests_solve_resolution_for_a_coarse_moving_raster(b4, tmp_path, capsys):
    fixed = inner(b4, 96)
    grid = fixed.odc.geobox
    truth = rigid(1.5, 0.5, 0.0, grid)
    paths = {"moving": tmp_path / "moving.tif", "fixed": tmp_path / "fixed.tif"}
    write_geotiff(_coarse(b4, 4, truth).astype(np.float32), paths["moving"])  # 120 m
    write_geotiff(fixed, paths["fixed"])
    out = tmp_path / "out.tif"
    argv = ["--moving-image", str(paths["moving"]), "--fixed-image", str(paths["fixed"]),
            "--output-image", str(out), "--transform-out", str(tmp_path / "fit.json")]  # fmt: skip
    code = align_main(argv)
    if code == 2:
        line, _ = one_line(capsys)
        assert line.endswith(
            "the moving raster's pixel (120) is 4 times the reference's (30): pass "
            "--solve-resolution 120 to solve on its pixel size"
        )
        assert not out.exists()
    else:
        capsys.readouterr()
    assert align_main([*argv, "--solve-resolution", "120"]) == 0
    fit = xr_coregix.RigidTransform.from_json((tmp_path / "fit.json").read_text())
    assert displacement_error(fit, truth, grid)[0] < 0.5
    assert isinstance(rioxarray.open_rasterio(out), xr.DataArray)
