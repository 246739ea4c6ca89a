"""Datacubes as dask tasks: one task a date, the same fits on any scheduler, lazy fits."""

import threading
import warnings

import dask
import numpy as np
import pandas as pd
import pytest
import rioxarray
import xarray as xr
from dask.delayed import Delayed
from synthetic import misregister, rigid

import xr_coregix
from xr_coregix import (
    BandSelectionError,
    CoregError,
    RegistrationWarning,
    TransformSeries,
    displacement_error,
)
from xr_coregix.xr import cube as cube_module
from xr_coregix.xr.cube import LazyTransformSeries

TRUTHS = [(0.4, -0.3, 0.0), (2.2, 1.1, 0.5), (-1.7, 3.0, -0.4), (1.2, -2.4, 0.2)]
DATES = pd.to_datetime(
    ["2024-03-01T10:31", "2024-04-01T10:30", "2024-05-01T10:32", "2024-06-01T10:29"]
)
MASKED = 2  # the date whose mask covers everything


@pytest.fixture(scope="module")
def cube(b4, grid):
    """(time, y, x), one known misregistration per date."""
    slices = [misregister(b4, rigid(*t, grid), grid) for t in TRUTHS]
    return xr.concat(slices, dim="time").assign_coords(time=DATES)


@pytest.fixture(scope="module")
def mask(cube):
    """A quality mask along time: all clear but one date, masked whole."""
    values = np.zeros(cube.shape, bool)
    values[MASKED] = True
    return cube.copy(data=values)


@pytest.fixture(scope="module")
def one_by_one(cube, fixed, mask):
    """The series as it was made before the dates became tasks: a loop in this process."""
    fits, errors = [], []
    for i in range(cube.sizes["time"]):
        try:
            fits.append(xr_coregix.register(cube.isel(time=i), fixed, moving_mask=mask[i]))
            errors.append("")
        except xr_coregix.InsufficientValidDataError as err:
            fits.append(None)
            errors.append(str(err))
    return TransformSeries("time", cube.indexes["time"], tuple(fits), tuple(errors))


def _same(a, b):
    """Bit-identical fits (rotation and translation) and the same failures."""
    assert len(a) == len(b) and a.errors == b.errors
    for fa, fb in zip(a, b, strict=True):
        if fa is None or fb is None:
            assert fa is fb
        else:
            assert (fa.rotation, fa.translation) == (fb.rotation, fb.translation)


def test_every_date_recovered_and_the_masked_one_recorded(one_by_one, cube, fixed, mask, grid):
    series = xr_coregix.register(cube, fixed, moving_mask=mask)
    for i, truth in enumerate(TRUTHS):
        if i != MASKED:
            assert displacement_error(series[i], rigid(*truth, grid), grid)[0] < 0.02
    assert series.failed == [DATES[MASKED]] and "only 0.00%" in series.errors[MASKED]
    _same(series, one_by_one)


@pytest.mark.parametrize(
    "config",
    [{"scheduler": "sync"}, {"scheduler": "threads", "num_workers": 1},
     {"scheduler": "threads", "num_workers": 2}],
    ids=["sync", "1-thread", "2-threads"],
)  # fmt: skip
def test_the_same_fits_on_every_local_scheduler(one_by_one, cube, fixed, mask, config):
    with dask.config.set(config):
        series = xr_coregix.register(cube, fixed, moving_mask=mask)
    _same(series, one_by_one)


def test_chunked_dates_give_the_same_fits_as_tasks(cube, fixed):
    """Dates registered chunk by chunk inside their tasks: as in this process, one by one."""
    lazy_cube = cube.isel(time=[0, 1]).chunk({"time": 1, "y": 96, "x": 96})
    by_date = [xr_coregix.register(lazy_cube.isel(time=i), fixed, split_factor=1) for i in (0, 1)]
    with dask.config.set(scheduler="threads", num_workers=2):
        series = xr_coregix.register(lazy_cube, fixed, split_factor=1)
    assert [len(f.diagnostics.chunks) for f in series] == [2, 2]
    for fit, alone in zip(series, by_date, strict=True):
        assert (fit.rotation, fit.translation) == (alone.rotation, alone.translation)


def test_dates_run_side_by_side_on_threads(cube, fixed, monkeypatch):
    """Two dates' tasks are in flight at once: each waits at a barrier for another one."""
    barrier = threading.Barrier(2, timeout=20)
    threads = set()
    original = cube_module.fit_date

    def fit_date(*args):
        threads.add(threading.get_ident())
        barrier.wait()
        return original(*args)

    monkeypatch.setattr(cube_module, "fit_date", fit_date)
    with dask.config.set(scheduler="threads", num_workers=2):
        series = xr_coregix.register(cube.isel(time=[0, 1]), fixed)
    assert len(series) == 2 and not series.failed
    assert len(threads) == 2 and threading.get_ident() not in threads


def test_a_cube_of_one_date(cube, fixed, mask, one_by_one):
    series = xr_coregix.register(cube.isel(time=[1]), fixed, moving_mask=mask.isel(time=[1]))
    assert len(series) == 1 and series.index[0] == DATES[1]
    assert series[0].translation == one_by_one[1].translation


def test_lazy_fits_compute_nothing_until_asked(cube, fixed, mask, one_by_one):
    reads = []

    def count(block, block_info=None):
        reads.append(block_info[None]["chunk-location"][0])  # the date
        return block

    chunked = cube.chunk({"time": 1})
    lazy_cube = chunked.copy(data=chunked.data.map_blocks(count, dtype=cube.dtype))
    lazy = lazy_cube.coreg.register(fixed, moving_mask=mask, compute=False)
    assert isinstance(lazy, LazyTransformSeries) and reads == []
    assert lazy_cube.coreg.fit is None  # a lazy fit is not kept for apply
    assert len(lazy) == 4 and repr(lazy) == "LazyTransformSeries(4 along 'time', not computed)"
    assert isinstance(lazy[1], Delayed)
    assert lazy[1].compute().translation == one_by_one[1].translation
    assert set(reads) == {1}  # only that date was read
    _same(lazy.compute(), one_by_one)
    _same(dask.compute(lazy)[0], one_by_one)
    persisted = lazy.persist()
    assert isinstance(persisted, LazyTransformSeries)
    _same(persisted.compute(), one_by_one)
    assert persisted[MASKED].compute() is None
    assert lazy.to_delayed().compute() == one_by_one


def _write(date, fit, path):
    """A user's task: apply a date's fit and write it (nothing for a date without one)."""
    if fit is None:
        return None
    return str(xr_coregix.write_geotiff(xr_coregix.apply(date, fit, grid="reference"), path))


def test_register_apply_write_as_one_graph(cube, fixed, mask, one_by_one, tmp_path, monkeypatch):
    calls = []
    original = cube_module.fit_date

    def fit_date(*args):
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(cube_module, "fit_date", fit_date)
    fits = cube.coreg.register(fixed, moving_mask=mask, compute=False)
    writes = [
        dask.delayed(_write)(cube.isel(time=i), fits[i], tmp_path / f"{i}.tif")
        for i in range(len(fits))
    ]
    series, *paths = dask.compute(fits, *writes)
    assert len(calls) == 4  # each date fitted once, for the table and the writes alike
    _same(series, one_by_one)
    assert paths[MASKED] is None and sum(p is not None for p in paths) == 3
    expected = xr_coregix.apply(cube, series, grid="reference")
    for i, path in enumerate(paths):
        if path is not None:
            written = rioxarray.open_rasterio(path)
            assert written.odc.geobox == fixed.odc.geobox
            np.testing.assert_array_equal(written.values[0], expected.values[i])


def test_a_lazy_pair_is_a_delayed_fit(cube, fixed, one_by_one):
    lazy = xr_coregix.register(cube.isel(time=0), fixed, compute=False)
    assert isinstance(lazy, Delayed)
    assert lazy.compute().translation == one_by_one[0].translation


def test_errors_on_arguments_are_eager_errors_on_data_at_compute(cube, fixed):
    with pytest.raises(CoregError, match="on_failure='nope'"):
        xr_coregix.register(cube, fixed, on_failure="nope", compute=False)
    lazy = xr_coregix.register(cube, fixed, moving_band="red", compute=False)
    with pytest.raises(BandSelectionError):
        lazy.compute()
    with pytest.raises(BandSelectionError):
        xr_coregix.register(cube, fixed, moving_band="red")


def test_on_failure_per_date(cube, fixed):
    """A check that fails the two dates shifted most: recorded, or flagged with a warning."""
    two = cube.isel(time=[0, 2])  # 0.5 px and 3.5 px away
    series = xr_coregix.register(two, fixed, max_shift=2.0)
    assert series[0] is not None and series[1] is None and "max_shift=2" in series.errors[1]
    with pytest.warns(RegistrationWarning, match="max_shift=2") as caught:
        series = xr_coregix.register(two, fixed, max_shift=2.0, on_failure="warn")
    assert len([w for w in caught if issubclass(w.category, RegistrationWarning)]) == 1
    reliable = series.to_dataframe()["reliable"].tolist()
    assert reliable == [True, False] and series.failed == []


def test_one_independent_task_a_date(cube, fixed, mask):
    """Each date is one task that needs no other date's: a scheduler may run them side by side.

    (Whether a cluster does is its scheduler's choice, measured in ``benchmarks/cube.py``.)
    """
    lazy = xr_coregix.register(cube, fixed, moving_mask=mask, compute=False)
    graph = dict(lazy.__dask_graph__())
    fits = {k for k in graph if str(k).startswith("coreg-fit-")}
    assert len(fits) == cube.sizes["time"]
    for key in fits:  # nothing a date's task needs, however indirectly, is another date's
        needed, todo = set(), [key]
        while todo:
            new = dask.core.get_dependencies(graph, todo.pop()) - needed
            needed |= new
            todo.extend(new)
        assert not needed & fits


# ----------------------------------------------------------------- dask.distributed


def test_the_same_fits_on_one_and_two_workers(client, cube, fixed, mask, one_by_one):
    _same(xr_coregix.register(cube, fixed, moving_mask=mask), one_by_one)
    lazy = xr_coregix.register(cube, fixed, moving_mask=mask, compute=False)
    for worker in sorted(client.scheduler_info()["workers"]):
        _same(client.compute(lazy, workers=[worker]).result(), one_by_one)
    _same(lazy.persist().compute(), one_by_one)


def test_a_cube_and_a_reference_held_on_the_cluster(client, cube, fixed, mask, one_by_one):
    """Persisted inputs: each date's task gets its blocks from the workers that hold them."""
    held = cube.chunk({"time": 1, "y": 160, "x": 160}).persist()
    held_mask = mask.chunk({"time": 1}).persist()
    reference = fixed.chunk(160).persist()
    _same(xr_coregix.register(held, reference, moving_mask=held_mask), one_by_one)


def test_unreliable_fits_on_a_cluster_are_warned_of_here(client, cube, fixed):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        series = xr_coregix.register(
            cube.isel(time=[0, 2]), fixed, max_shift=2.0, on_failure="warn"
        )
    messages = [str(w.message) for w in caught if issubclass(w.category, RegistrationWarning)]
    assert len(messages) == 1 and "time=2024-05-01 10:32:00" in messages[0]
    assert series.to_dataframe()["reliable"].tolist() == [True, False]


def test_a_dates_task_makes_its_images_in_its_own_thread(cube, fixed, monkeypatch):
    """A single pair makes its two bands' images in two threads; a cube's date, whose task has
    one core's share, in its own thread (the same fits either way: test_conventions.py)."""
    from xr_coregix.xr import problem

    pools = []

    class Counted(problem.ThreadPoolExecutor):
        def __init__(self, *args, **kwargs):
            pools.append(kwargs.get("max_workers"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(problem, "ThreadPoolExecutor", Counted)
    xr_coregix.register(cube.isel(time=[0, 1]), fixed)
    assert pools == []
    xr_coregix.register(cube.isel(time=0), fixed)
    assert pools == [2]
