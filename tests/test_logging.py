"""Logging (``--log-to-console``, the ``xr_coregix`` loggers) and the progress bars of
``align-image-pair``: one log line per step with its time, one labelled bar per step, stdout
left to the JSON fit."""

import io
import json
import logging
import re
import time

import dask.array as da
import pytest

import xr_coregix
import xr_coregix.log
from xr_coregix.cli import align_main
from xr_coregix.data import example_paths
from xr_coregix.log import ProgressBar, console_logging, own_line, stage

MOVING, FIXED = (str(p) for p in example_paths())  # 320 x 320 px
STEPS = ("opening inputs", "registering", "warping + writing")
BARS = ("registering", "warping + writing")
TIME = r"\d+\.\d\d s"


def run(tmp_path, *flags):
    out = tmp_path / "out.tif"
    argv = ["--moving-image", MOVING, "--fixed-image", FIXED, "--output-image", str(out),
            *flags]  # fmt: skip
    assert align_main(argv) == 0
    return out


def log_lines(err):
    """The lines of the console log (``HH:MM:SS align-image-pair: ...``), without the prefix."""
    prefix = re.compile(r"^\d\d:\d\d:\d\d align-image-pair: ")
    return [prefix.sub("", line) for line in err.splitlines() if prefix.match(line)]


def done_lines(lines, label):
    return [line for line in lines if re.match(rf"{re.escape(label)} done in {TIME}", line)]


def completion_lines(err, label):
    """The 100 % lines of ``label``'s bar (on a terminal, its last redraw)."""
    pattern = rf"^{re.escape(label)} +\[#+\] +100% +\d+\.\d s$"
    return [line for line in re.split(r"[\r\n]", err) if re.match(pattern, line)]


def test_log_to_console_logs_each_step_once_with_its_time(tmp_path, capsys):
    out = run(tmp_path, "--log-to-console", "--no-progress", "--split-factor", "1")
    printed = capsys.readouterr()
    fit = json.loads(printed.out)  # stdout: the JSON fit alone
    assert fit["output_image_path"] == str(out)
    lines = log_lines(printed.err)
    assert len(lines) == len(printed.err.splitlines())  # nothing else on stderr: no bars
    for label in STEPS:
        assert len(done_lines(lines, label)) == 1, (label, lines)
    assert len([line for line in lines if re.fullmatch(f"total {TIME}", line)]) == 1
    assert lines[-1].startswith("total ")
    (opened,) = done_lines(lines, "opening inputs")
    for text in (repr(MOVING), repr(FIXED), "1 band x 320 x 320 px", "uint16", "EPSG:32616"):
        assert text in opened
    (registered,) = done_lines(lines, "registering")
    assert "split factor 1 (" in registered and "chunks" in registered
    assert re.search(r"shift \(-?\d+\.\d+, -?\d+\.\d+\) px \(x east, y north\)", registered)
    assert "rotation" in registered and "deg" in registered and registered.endswith("reliable")
    (written,) = done_lines(lines, "warping + writing")
    assert repr(str(out)) in written and "MiB" in written
    # the steps in order, each started (when long) before it is done
    order = [line.split(":")[0].split(" done in")[0] for line in lines[:-1]]
    assert order == ["opening inputs", "registering", "registering", "warping + writing",
                     "warping + writing"]  # fmt: skip


def test_without_the_flags_stderr_stays_quiet(tmp_path, capsys):
    run(tmp_path, "--no-progress")
    printed = capsys.readouterr()
    json.loads(printed.out)
    assert printed.err == ""
    logger = logging.getLogger("xr_coregix")
    assert [type(h) for h in logger.handlers] == [logging.NullHandler]  # the console one removed
    assert logger.level == logging.NOTSET


def test_one_labelled_bar_per_step_off_a_terminal(tmp_path, capsys):
    run(tmp_path, "--progress", "--split-factor", "1")  # several computes while registering
    printed = capsys.readouterr()
    json.loads(printed.out)
    assert "\r" not in printed.err and "Completed" not in printed.err  # not dask's bars
    lines = printed.err.splitlines()
    for label in BARS:
        assert len(completion_lines(printed.err, label)) == 1, printed.err
        assert lines.count(f"{label} ...") == 1
    assert len(lines) == 4  # start and end of each, nothing else


def test_bars_and_log_together(tmp_path, capsys):
    run(tmp_path, "--progress", "--log-to-console")
    printed = capsys.readouterr()
    json.loads(printed.out)
    err = printed.err.splitlines()
    for label in BARS:
        (bar,) = completion_lines(printed.err, label)
        (done,) = (line for line in err if f"align-image-pair: {label} done in" in line)
        assert err.index(f"{label} ...") < err.index(bar) < err.index(done)


def test_the_python_api_logs_to_its_loggers(tmp_path, caplog, capsys):
    caplog.set_level(logging.INFO, logger="xr_coregix")
    xr_coregix.align_image_pair(MOVING, FIXED, tmp_path / "out.tif")
    assert capsys.readouterr().err == ""  # no console log unless asked
    records = [r for r in caplog.records if r.name.startswith("xr_coregix.")]
    assert "xr_coregix.pipeline" in {r.name for r in records}
    messages = [r.getMessage() for r in records]
    for label in STEPS:
        assert len(done_lines(messages, label)) == 1, messages
    xr_coregix.align_image_pair(MOVING, FIXED, tmp_path / "out2.tif", log_to_console=True)
    err = capsys.readouterr().err.splitlines()
    assert err and all(re.match(r"\d\d:\d\d:\d\d xr_coregix: ", line) for line in err)


def test_console_logging_nests_without_repeating():
    out = io.StringIO()
    log = logging.getLogger("xr_coregix.test")
    with console_logging(prog="outer", stream=out), console_logging(prog="inner", stream=out):
        log.info("once")
    log.info("not shown")
    assert [line.split(" ", 1)[1] for line in out.getvalue().splitlines()] == ["outer: once"]


def test_a_stage_that_fails_logs_nothing():
    out = io.StringIO()
    log = logging.getLogger("xr_coregix.test")
    with (
        console_logging(stream=out),
        pytest.raises(ValueError),
        stage("failing", log, start="begins", progress=True, out=out),
    ):
        raise ValueError("no")
    text = out.getvalue()
    assert "failing: begins" in text and "done in" not in text and "100%" not in text


def test_a_bar_aggregates_its_computes_and_reaches_100_once_on_a_terminal(monkeypatch):
    monkeypatch.setattr(xr_coregix.log, "PROGRESS_AFTER_SECONDS", 0)
    out = io.StringIO()

    def slow(x):
        time.sleep(0.02)
        return x

    with ProgressBar("counting", out, terminal=True, interval=0.01) as bar:
        for n in (8, 8, 8):  # three computes, one bar
            da.ones(n, chunks=1).map_blocks(slow).sum().compute()
    assert bar.done == bar.total >= 3 * 8
    draws = out.getvalue().split("\r")[1:]
    assert len(draws) > 3  # redrawn in place
    assert all(d.startswith("counting") and not d.endswith("\n") for d in draws[:-1])
    percents = [int(re.search(r"(\d+)%", d)[1]) for d in draws]
    assert max(percents[:-1]) < 100 and percents[-1] == 100 and draws[-1].endswith(" s\n")
    assert out.getvalue().count("\n") == 1  # the one line, ended once


def test_a_bar_weighs_tasks_by_their_time():
    bar = ProgressBar("weighing", io.StringIO())
    reads, solves = [("read-1", i) for i in range(20)], [("solve-1", i) for i in range(2)]
    bar._start_state(None, {"ready": reads, "waiting": dict.fromkeys(solves)})

    def run_task(key, seconds=0.0):
        bar._pretask(key, None, None)
        time.sleep(seconds)
        bar._posttask(key, None, None, None, 0)

    for key in reads:
        run_task(key)
    run_task(solves[0], 0.05)
    # 21 of 22 tasks, but half the time: the other solve will take as long as the first
    assert 0.4 < bar.fraction() < 0.6
    run_task(solves[1], 0.05)
    assert bar.fraction() == 0.99  # all done, but 100 % only when the step ends
    bar._start_state(None, {"ready": [("solve-2", 0)], "waiting": {}})  # another compute
    assert 0.6 < bar.fraction() < 0.7  # weighed as the solves so far (2 of 3)


def test_a_warning_during_a_bar_gets_its_own_line(monkeypatch):
    monkeypatch.setattr(xr_coregix.log, "PROGRESS_AFTER_SECONDS", 0)
    out = io.StringIO()
    with ProgressBar("solving", out, terminal=True) as bar:
        bar.draw()
        with own_line():
            out.write("align-image-pair: warning: something\n")
    lines = out.getvalue().split("\n")
    assert lines[1] == "align-image-pair: warning: something"
    assert lines[0].lstrip("\r").startswith("solving") and "100%" in lines[2]
